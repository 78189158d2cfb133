use dcb_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(version = 2)]
struct CourseRegistered {
    title: String,
    _version: u32,
}

fn main() {}
