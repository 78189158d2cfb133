//! Macros that turn annotated Rust types into DCB events and decisions.
//!
//! The macros are under construction (see the project's issue on
//! `#[derive(Event)]` and `#[decision]`); this crate exports none yet.
