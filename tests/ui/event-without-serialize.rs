use dcb_core::{Event, Id};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Event)]
struct CourseRegistered {
    #[tag]
    course_id: CourseId,
}

fn main() {}
