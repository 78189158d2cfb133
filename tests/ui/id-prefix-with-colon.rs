use dcb_core::Id;

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[id(prefix = "school:course")]
struct CourseId(dcb_core::Uuid);

fn main() {}
