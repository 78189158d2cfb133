use dcb_core::{Event, Id};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[id(prefix = "course")]
struct LegacyCourseId(u64);

#[derive(Event, Serialize, Deserialize)]
struct CourseMigrated {
    #[tag]
    course_id: CourseId,
    #[tag]
    legacy_id: LegacyCourseId,
}

fn main() {}
