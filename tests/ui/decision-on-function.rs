use dcb_core::decision;

#[decision]
fn course_capacity() -> u32 {
    5
}

fn main() {}
