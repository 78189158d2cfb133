use dcb_core::{Event, Id, decision};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct StudentId(dcb_core::Uuid);

#[derive(Event, Serialize, Deserialize)]
struct StudentJoinedCourse {
    #[tag]
    course_id: CourseId,
    #[tag]
    student_id: StudentId,
}

// `student_id` is an id of the decision's scope, but is not marked
// `#[boundary]`: it has no `Default` to start from.
#[decision]
struct Membership {
    #[boundary]
    course_id: CourseId,
    student_id: StudentId,
    joined: bool,
}

#[decision]
impl Membership {
    fn joined(&mut self, _: &StudentJoinedCourse) {
        self.joined = true;
    }
}

fn main() {}
