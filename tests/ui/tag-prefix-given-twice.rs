use dcb_core::{Event, Id};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Event, Serialize, Deserialize)]
struct CoursesSwapped {
    #[tag(prefix = "swapped_course")]
    first: CourseId,
    #[tag(prefix = "swapped_course")]
    second: CourseId,
}

fn main() {}
