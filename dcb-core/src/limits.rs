//! [`Limits`]: the input bounds every store enforces before it writes.

use std::collections::HashSet;

use crate::Event;
use crate::error::InvalidInput;

/// Bounds on what one append may carry. Every store checks them before it
/// writes anything, so an over-large input is an [`InvalidInput`] error, never
/// a partial write.
///
/// ```
/// use dcb_core::Limits;
///
/// let limits = Limits::default().max_event_size(64 * 1024);
/// assert_eq!(limits.max_event_size, 64 * 1024);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// The largest event accepted, as measured by [`Event::size`].
    pub max_event_size: usize,
    /// The most events accepted in one append.
    pub max_events_per_append: usize,
}

impl Limits {
    /// The default largest event: 1 MiB.
    pub const DEFAULT_MAX_EVENT_SIZE: usize = 1 << 20;
    /// The default largest append: 100 000 events.
    pub const DEFAULT_MAX_EVENTS_PER_APPEND: usize = 100_000;

    /// Sets the largest event accepted.
    #[must_use]
    pub fn max_event_size(mut self, bytes: usize) -> Limits {
        self.max_event_size = bytes;
        self
    }

    /// Sets the most events accepted in one append.
    #[must_use]
    pub fn max_events_per_append(mut self, count: usize) -> Limits {
        self.max_events_per_append = count;
        self
    }

    /// Checks an append against the limits and the rules every append
    /// follows: at least one event, and no event id twice in one append.
    pub fn check_append(&self, events: &[Event]) -> Result<(), InvalidInput> {
        if events.is_empty() {
            return Err(InvalidInput::EmptyAppend);
        }
        if events.len() > self.max_events_per_append {
            return Err(InvalidInput::TooManyEvents {
                count: events.len(),
                limit: self.max_events_per_append,
            });
        }
        for (index, event) in events.iter().enumerate() {
            let size = event.size();
            if size > self.max_event_size {
                return Err(InvalidInput::EventTooLarge {
                    index,
                    event_type: event.event_type().clone(),
                    size,
                    limit: self.max_event_size,
                });
            }
        }
        if events.iter().filter(|e| e.id().is_some()).nth(1).is_some() {
            let mut seen = HashSet::with_capacity(events.len());
            for (index, event) in events.iter().enumerate() {
                if let Some(id) = event.id()
                    && !seen.insert(id)
                {
                    return Err(InvalidInput::DuplicateEventIdInAppend { id, index });
                }
            }
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_event_size: Limits::DEFAULT_MAX_EVENT_SIZE,
            max_events_per_append: Limits::DEFAULT_MAX_EVENTS_PER_APPEND,
        }
    }
}
