use dcb_core::{Event, Id};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

// Every mistake of one event is reported in the same compile.
#[derive(Event, Serialize, Deserialize)]
#[event(name = "", nmae = "CourseRegistered")]
struct CourseRegistered {
    #[tag(prefx = "lecture")]
    course_id: CourseId,
    #[tag]
    #[tag]
    teacher_id: CourseId,
}

fn main() {}
