use dcb_core::{Event, upcast};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Event, Serialize, Deserialize)]
#[event(version = 2)]
struct CourseRegistered {
    title: String,
}

#[upcast(CourseRegistered, from = 1)]
fn name_to_title(data: Value, version: u32) -> Value {
    let _ = version;
    data
}

fn main() {}
