use dcb_core::Id;

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[id(prefx = "lecture")]
struct CourseId(dcb_core::Uuid);

fn main() {}
