use dcb_core::{Id, decision};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[decision]
struct CourseCapacity<T> {
    #[boundary]
    course_id: CourseId,
    places: T,
}

fn main() {}
