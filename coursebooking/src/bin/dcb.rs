//! `dcb`: the store inspector, decoding the course-booking events.
//!
//! `cargo run -p coursebooking --bin dcb -- --help`; see
//! [`dcb_core::inspect`] for the commands and their output.

use std::process::ExitCode;

// The inspector decodes events through the registrations of the event types
// linked into the binary; naming the crate keeps it, and them, linked.
use coursebooking as _;

fn main() -> ExitCode {
    dcb_core::inspect::main()
}
