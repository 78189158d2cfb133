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

#[decision(latest)]
struct LatestPlaces {
    #[boundary]
    course_id: CourseId,
    places: u32,
}

#[decision]
impl LatestPlaces {
    fn registered(&mut self, event: &CourseRegistered) {
        self.places = event.places;
    }
}

#[decision]
struct Registrations {
    #[boundary]
    course_id: CourseId,
    count: u32,
}

#[decision]
impl Registrations {
    fn registered(&mut self, _: &CourseRegistered) {
        self.count += 1;
    }
}

// A composite reads every event its members select: a latest-event member
// would fold more than its latest.
fn main() {
    let course_id = CourseId::new();
    let composite = (LatestPlaces::new(course_id), Registrations::new(course_id));
    let _ = dcb_core::Projection::query(&composite);
}
