use dcb_core::Id;

#[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
struct CourseCode(pub String);

fn main() {}
