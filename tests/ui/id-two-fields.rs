use dcb_core::Id;

#[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid, u32);

fn main() {}
