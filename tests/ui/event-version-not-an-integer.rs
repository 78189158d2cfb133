use dcb_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(version = "2")]
struct CourseRegistered {
    title: String,
}

fn main() {}
