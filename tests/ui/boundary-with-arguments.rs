use dcb_core::{Event, Id, decision};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Event, Serialize, Deserialize)]
struct CourseRegistered {
    #[tag]
    course_id: CourseId,
}

#[decision]
struct CourseExists {
    #[boundary(prefix = "lecture")]
    course_id: CourseId,
    exists: bool,
}

#[decision]
impl CourseExists {
    fn registered(&mut self, _: &CourseRegistered) {
        self.exists = true;
    }
}

fn main() {}
