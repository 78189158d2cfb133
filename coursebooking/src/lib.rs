//! The course-booking reference example: students join courses with limited
//! places and a per-student course limit.
//!
//! The example is built on `dcb-macros` and arrives with it; this crate is
//! empty until then.
