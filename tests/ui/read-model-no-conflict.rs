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
    // A read model appends nothing: no condition to narrow.
    #[no_conflict]
    fn registered(&mut self, event: &CourseRegistered) {
        self.0 += event.places;
    }
}

fn main() {}
