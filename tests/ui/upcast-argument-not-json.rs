use dcb_core::{Event, upcast};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(version = 2)]
struct CourseRegistered {
    title: String,
}

#[upcast(CourseRegistered, from = 1)]
fn name_to_title(data: String) -> serde_json::Value {
    serde_json::json!({ "title": data })
}

fn main() {}
