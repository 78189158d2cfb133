//! The in-memory store's data: the event log and its indexes.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use uuid::Uuid;

use crate::error::AppendError;
use crate::{Event, EventType, Position, Tag};

/// Positions are kept as plain numbers in the indexes; position `p` is
/// `events[p - 1]`.
pub(super) type Pos = u64;

/// The log and its indexes, guarded together by the store's lock so that
/// an append is visible everywhere at once or nowhere.
#[derive(Default)]
pub(super) struct State {
    pub(super) events: Vec<Event>,
    /// Positions of each event type, ascending.
    pub(super) by_type: HashMap<EventType, Vec<Pos>, RandomState>,
    /// Positions of each tag, ascending.
    pub(super) by_tag: HashMap<Tag, Vec<Pos>, RandomState>,
    /// The position of each event id.
    pub(super) by_id: HashMap<Uuid, Pos, RandomState>,
}

impl State {
    /// The last position, 0 when empty.
    pub(super) fn last(&self) -> Pos {
        self.events.len() as Pos
    }

    pub(super) fn event(&self, position: Pos) -> &Event {
        // Positions handed out by the indexes are always within the log.
        let index = usize::try_from(position - 1).unwrap_or(usize::MAX);
        &self.events[index]
    }

    /// Decides whether `events` repeat an earlier append: `Ok(Some(last))`
    /// for an exact repeat, `Ok(None)` when none of their ids is stored, and
    /// an error when some are stored by a different append.
    pub(super) fn find_repeat(&self, events: &[Event]) -> Result<Option<Position>, AppendError> {
        if self.by_id.is_empty() || events.iter().all(|e| e.id().is_none()) {
            return Ok(None);
        }
        let first = events[0].id().and_then(|id| self.by_id.get(&id).copied());
        if let Some(first) = first {
            let exact = events.iter().enumerate().all(|(i, event)| {
                let position = first + i as Pos;
                event.id().and_then(|id| self.by_id.get(&id)) == Some(&position)
                    && self.event(position) == event
            });
            if exact {
                return Ok(Position::new(first + events.len() as Pos - 1));
            }
        }
        for event in events {
            if let Some(id) = event.id()
                && let Some(&stored) = self.by_id.get(&id)
                && let Some(position) = Position::new(stored)
            {
                return Err(AppendError::DuplicateEventId { id, position });
            }
        }
        Ok(None)
    }

    /// Appends `events` and indexes them; returns the last position.
    pub(super) fn push(&mut self, events: Vec<Event>) -> Position {
        self.events.reserve(events.len());
        for event in events {
            let position = self.last() + 1;
            index(&mut self.by_type, event.event_type(), position);
            for tag in event.tags() {
                index(&mut self.by_tag, tag, position);
            }
            if let Some(id) = event.id() {
                self.by_id.insert(id, position);
            }
            self.events.push(event);
        }
        Position::new(self.last()).unwrap_or(Position::FIRST)
    }
}

fn index<K: Clone + Eq + std::hash::Hash>(
    map: &mut HashMap<K, Vec<Pos>, RandomState>,
    key: &K,
    position: Pos,
) {
    if let Some(positions) = map.get_mut(key) {
        positions.push(position);
    } else {
        map.insert(key.clone(), vec![position]);
    }
}
