use dcb_core::upcast;
use serde_json::Value;

struct CourseRegistered {
    title: String,
}

#[upcast(CourseRegistered, from = 1)]
fn name_to_title(data: Value) -> Value {
    data
}

fn main() {}
