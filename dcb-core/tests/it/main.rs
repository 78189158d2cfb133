//! The integration tests of `dcb-core`, in one test binary: one module per
//! area, and `support` for what they share.
//!
//! The crash tests (`embedded_crash`, `read_model_crash`) run this binary
//! again as their child, selecting only the child's test by its full name.
//! Tests that must own their process are binaries of their own: the
//! registry tests (`registry_duplicates`, `upcaster_registry`,
//! `versioning`), since a binary has one registry of event types (see
//! CONTRIBUTING.md, "Where tests live").

mod decision_inputs;
mod decisions;
mod embedded_crash;
mod embedded_format;
mod embedded_index;
mod embedded_read_only;
mod embedded_recovery;
mod embedded_scanning;
mod into_events;
mod known_state;
mod model_embedded;
mod model_machine;
mod model_memory;
mod properties;
mod read_model_crash;
mod read_model_file;
mod read_model_handlers;
mod read_model_mismatch;
mod read_model_saves;
mod recorded_times;
mod support;
mod tags;
mod testkit;
mod tracing_spans;
