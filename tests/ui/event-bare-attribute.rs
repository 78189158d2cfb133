use dcb_core::{Event, Id};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Event, Serialize, Deserialize)]
#[event]
struct CourseRegistered {
    #[tag]
    course_id: CourseId,
}

fn main() {}
