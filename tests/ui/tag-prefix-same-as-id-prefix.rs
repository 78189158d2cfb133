use dcb_core::{Event, Id};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct StudentId(dcb_core::Uuid);

#[derive(Event, Serialize, Deserialize)]
struct StudentJoinedCourse {
    #[tag]
    course_id: CourseId,
    #[tag(prefix = "course")]
    student_id: StudentId,
}

fn main() {}
