use dcb_core::{Id, decision};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[decision]
struct CourseCapacity {
    #[boundary]
    course_id: CourseId,
    places: u32,
}

struct PlacesChanged {
    places: u32,
}

#[decision]
impl CourseCapacity {
    fn changed(&mut self, event: &PlacesChanged) {
        self.places = event.places;
    }
}

fn main() {}
