use dcb_core::read_model;

// `#[read_model]` goes on the impl block of handlers, not on the struct.
#[read_model]
#[derive(Default)]
struct Places(u32);

fn main() {}
