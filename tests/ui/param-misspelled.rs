use dcb_core::{Event, Id, decision};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Event, Serialize, Deserialize)]
struct CourseRegistered {
    #[tag]
    course_id: CourseId,
    places: u32,
}

// `#[parm]` is a near miss of `#[param]`.
#[decision]
struct CourseCapacity {
    #[boundary]
    course_id: CourseId,
    #[parm]
    now: u64,
    places: u32,
}

#[decision]
impl CourseCapacity {
    fn registered(&mut self, event: &CourseRegistered) {
        self.places = event.places;
    }
}

fn main() {}
