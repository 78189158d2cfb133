use dcb_core::{Event, Id, decision};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct StudentId(dcb_core::Uuid);

#[derive(Event, Serialize, Deserialize)]
struct StudentRegistered {
    #[tag]
    student_id: StudentId,
}

#[derive(Event, Serialize, Deserialize)]
struct StudentJoinedCourse {
    #[tag]
    student_id: StudentId,
    #[tag]
    course_id: CourseId,
}

#[decision]
struct CourseCapacity {
    #[boundary]
    course_id: CourseId,
    joined: u32,
}

#[decision]
impl CourseCapacity {
    fn joined(&mut self, _: &StudentJoinedCourse) {
        self.joined += 1;
    }

    fn registered(&mut self, _: &StudentRegistered) {}
}

fn main() {}
