use dcb_core::{Event, Id};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
struct CourseId(Vec<u8>);

// The id's one mistake is the only error: its uses do not fail too.
#[derive(Event, Serialize, Deserialize)]
struct CourseRegistered {
    #[tag]
    course_id: CourseId,
}

fn main() {}
