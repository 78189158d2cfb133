use dcb_core::{Event, Id, IntoEvents};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Event, Serialize, Deserialize)]
struct StudentJoined {
    #[tag]
    course_id: CourseId,
}

#[derive(IntoEvents)]
struct Enrolment {
    joined: StudentJoined,
}

fn main() {}
