use dcb_core::Id;

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId {
    uuid: dcb_core::Uuid,
}

fn main() {}
