use dcb_core::{Event, upcast};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Event, Serialize, Deserialize)]
#[event(version = 2)]
struct CourseRegistered {
    title: String,
}

#[upcast(CourseRegistered)]
fn name_to_title(data: Value) -> Value {
    data
}

fn main() {}
