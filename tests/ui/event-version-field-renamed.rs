use dcb_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
struct CourseRegistered {
    title: String,
    #[serde(default, rename = "_version")]
    revision: u32,
}

fn main() {}
