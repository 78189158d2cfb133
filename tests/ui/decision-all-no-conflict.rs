use dcb_core::{Event, Id, decision};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Event, Serialize, Deserialize)]
struct CourseRenamed {
    #[tag]
    course_id: CourseId,
    name: String,
}

#[decision]
struct CourseTitle {
    #[boundary]
    course_id: CourseId,
    name: String,
}

#[decision]
impl CourseTitle {
    #[no_conflict]
    fn renamed(&mut self, event: &CourseRenamed) {
        self.name.clone_from(&event.name);
    }
}

fn main() {}
