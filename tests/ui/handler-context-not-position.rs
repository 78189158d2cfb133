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

#[decision]
struct CourseCapacity {
    #[boundary]
    course_id: CourseId,
    places: u32,
}

// A handler's second argument is the event's position, not any value.
#[decision]
impl CourseCapacity {
    fn registered(&mut self, event: &CourseRegistered, bonus: u32) {
        self.places = event.places + bonus;
    }
}

fn main() {}
