use dcb_core::{Event, Id, decision};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Event, Serialize, Deserialize)]
struct CourseSuggested {
    #[tag]
    course_id: Option<CourseId>,
}

#[decision]
struct CourseSuggestions {
    #[boundary]
    course_id: CourseId,
    count: u32,
}

#[decision]
impl CourseSuggestions {
    fn suggested(&mut self, _: &CourseSuggested) {
        self.count += 1;
    }
}

fn main() {}
