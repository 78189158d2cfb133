//! [`AppendCondition`]: the optimistic-concurrency check of an append.

use crate::{Position, Query};

/// "Fail if any event matching this query exists after this position."
///
/// A decision reads with a query, folds what it saw, and appends its new
/// events under the condition built from the same query and the read's head:
/// if anything the decision depended on was appended since, the append fails
/// and writes nothing.
///
/// ```
/// use dcb_core::{AppendCondition, Position, Query};
///
/// // Fail if any event at all was appended after position 7.
/// let condition = AppendCondition::new(Query::all()).after(Position::new(7));
/// assert_eq!(condition.after, Position::new(7));
///
/// // Without `after`, any matching event fails the append:
/// // "this must not exist yet".
/// let must_be_new = AppendCondition::new(Query::all());
/// assert_eq!(must_be_new.after, None);
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AppendCondition {
    /// The events that must not exist after `after`.
    pub fail_if_events_match: Query,
    /// The position up to which the decision saw every matching event (the
    /// read's head); `None` means no matching event may exist at all.
    pub after: Option<Position>,
}

impl AppendCondition {
    /// Fail if any event matching `query` exists (narrow with
    /// [`after`](Self::after)).
    #[must_use]
    pub fn new(query: Query) -> AppendCondition {
        AppendCondition {
            fail_if_events_match: query,
            after: None,
        }
    }

    /// Only events after `position` count; pass the head of the read the
    /// decision was made from.
    #[must_use]
    pub fn after(mut self, position: Option<Position>) -> AppendCondition {
        self.after = position;
        self
    }
}
