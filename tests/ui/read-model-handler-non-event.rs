use dcb_core::{Event, Id, read_model};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Event, Serialize, Deserialize)]
struct CourseRegistered {
    #[tag]
    course_id: CourseId,
    places: u32,
}

#[derive(Default)]
struct Places(u32);

#[read_model]
impl Places {
    // `u32` is not an event type.
    fn registered(&mut self, places: &u32) {
        self.0 += places;
    }
}

fn main() {}
