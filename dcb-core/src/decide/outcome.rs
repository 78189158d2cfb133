//! [`Outcome`]: what a command decides — the events to append and, with
//! [`Returning`], a value to hand back with their position.

use crate::Position;
use crate::domain::event::IntoEvents;

/// What a command may return in its `Ok`: events ([`IntoEvents`]: one
/// event, none, an `Option`, a `Vec`, a tuple), handed back by
/// [`decide`](crate::decide) as the position of the last appended one; or
/// [`Returning`] events and a value, handed back as the position and the
/// value.
pub trait Outcome {
    /// The events to append.
    type Events: IntoEvents;
    /// The value handed back besides the position.
    type Value;
    /// What [`decide`](crate::decide) returns: `Option<Position>`, or
    /// `(Option<Position>, Value)` for [`Returning`].
    type Output;

    /// The events and the value.
    fn split(self) -> (Self::Events, Self::Value);

    /// What the decision returns once its events are appended at
    /// `position` (`None` when there were none).
    fn output(position: Option<Position>, value: Self::Value) -> Self::Output;
}

impl<R: IntoEvents> Outcome for R {
    type Events = R;
    type Value = ();
    type Output = Option<Position>;

    fn split(self) -> (R, ()) {
        (self, ())
    }

    fn output(position: Option<Position>, (): ()) -> Option<Position> {
        position
    }
}

/// Events and a value computed with them, such as a new invoice's number:
/// [`decide`](crate::decide) appends the events and returns the position
/// with the value.
///
/// ```
/// # use dcb_core::{decide, decision, Event, InMemoryStore, Returning};
/// # use serde::{Deserialize, Serialize};
/// #[derive(Event, Serialize, Deserialize)]
/// struct InvoiceCreated {
///     number: u64,
/// }
///
/// /// The last invoice's number: the latest `InvoiceCreated` is enough.
/// #[decision(global, latest)]
/// struct LastInvoice {
///     number: u64,
/// }
///
/// #[decision]
/// impl LastInvoice {
///     fn created(&mut self, event: &InvoiceCreated) {
///         self.number = event.number;
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryStore::new();
/// let create = |last: &LastInvoice| {
///     let number = last.number + 1;
///     Ok::<_, std::convert::Infallible>(Returning::new(InvoiceCreated { number }, number))
/// };
/// let (_position, first) = decide(&store, LastInvoice::new(), create).await?;
/// let (_position, second) = decide(&store, LastInvoice::new(), create).await?;
/// assert_eq!((first, second), (1, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Returning<E, T> {
    events: E,
    value: T,
}

impl<E: IntoEvents, T> Returning<E, T> {
    /// `events` to append, and `value` to hand back with their position.
    pub fn new(events: E, value: T) -> Returning<E, T> {
        Returning { events, value }
    }
}

impl<E: IntoEvents, T> Outcome for Returning<E, T> {
    type Events = E;
    type Value = T;
    type Output = (Option<Position>, T);

    fn split(self) -> (E, T) {
        (self.events, self.value)
    }

    fn output(position: Option<Position>, value: T) -> (Option<Position>, T) {
        (position, value)
    }
}
