//! The decision layer: the projection `#[decision]` implements (state plus
//! handlers, with its boundary), the decide runner that reads, folds,
//! decides and appends, the known state it may decide from without
//! reading, and the test kit. The runner's items are
//! re-exported at the crate root; `testkit` is a public module.

pub(crate) mod decision;
pub(crate) mod known;
pub(crate) mod outcome;
pub(crate) mod runner;
pub mod testkit;
