use dcb_core::Event;

#[derive(Event)]
union Payload {
    places: u32,
    max_courses: u64,
}

fn main() {}
