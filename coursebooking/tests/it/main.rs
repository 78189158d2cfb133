//! The integration tests of `coursebooking`, in one test binary: one
//! module per area, and `support` for what they share (see
//! CONTRIBUTING.md, "Where tests live").

mod cli;
mod event_lock;
mod inspect;
mod kills;
mod lists;
mod scenario;
mod support;
