//! The DCB append rules, as the [`EventStore`](crate::EventStore) contract
//! states them for [`append`](crate::EventStore::append), checked against
//! the engine's events — the published ones *and* those pushed earlier in
//! the same batch, so that a group commit decides each append as if the
//! earlier ones were already stored:
//!
//! 1. **The idempotent repeat.** When every event carries an id and exactly
//!    these events are stored, consecutively, the append is a repeat: it
//!    returns the position of the last of them and writes nothing — before
//!    the condition is looked at, since the condition may fail now because
//!    of the very events being repeated. An id stored by a different append
//!    is [`AppendError::DuplicateEventId`].
//! 2. **The condition.** An event matching the condition's query after its
//!    `after` position (an item's own, when it has one) fails the append with
//!    [`AppendError::ConditionFailed`], naming the first such event.
//! 3. **The capacity.** Events beyond what the engine can index (about
//!    10^12, or 2^24 distinct event types) are refused as a
//!    [`AppendError::Backend`] error, writing nothing.
//!
//! The input [`Limits`](crate::Limits) are checked before, by the store.

use super::entry::{MAX_EVENTS, MAX_TYPES, Pos};
use super::state::State;
use crate::model::error::{AppendError, BackendError};
use crate::{AppendCondition, EventRecord, EventType, Position, Query};
use uuid::Uuid;

/// Decides an append of `events` under `condition` against `state`:
/// `Ok(Some(last))` for an idempotent repeat (nothing to push), `Ok(None)`
/// when the events may be pushed, or why the append fails.
pub(crate) fn check(
    state: &mut State,
    events: &[EventRecord],
    condition: Option<&AppendCondition>,
) -> Result<Option<Position>, AppendError> {
    if let Some(position) = repeat(state, events)? {
        return Ok(Some(position));
    }
    if let Some(condition) = condition {
        if condition.after.map_or(0, Position::get) < state.end() {
            state.index_tags();
        }
        if let Some(first) = first_conflict(state, condition).map_err(AppendError::Backend)?
            && let Some(conflicting) = Position::new(first)
        {
            return Err(AppendError::ConditionFailed { conflicting });
        }
    }
    capacity(state, events)?;
    Ok(None)
}

/// Rule 2: the first event that fails `condition`. Items with positions
/// of their own are looked up in groups of one position each (a composite
/// decision served from known state has one group per part).
fn first_conflict(state: &State, condition: &AppendCondition) -> Result<Option<Pos>, BackendError> {
    if !condition.has_item_positions() {
        return super::first_match(state, &condition.fail_if_events_match, condition.after);
    }
    let items = condition.fail_if_events_match.items();
    let mut positions: Vec<Option<Position>> =
        (0..items.len()).map(|i| condition.item_after(i)).collect();
    positions.sort_unstable();
    positions.dedup();
    let mut first = None;
    for after in positions {
        let group = Query::from_items(
            items
                .iter()
                .enumerate()
                .filter(|&(i, _)| condition.item_after(i) == after)
                .map(|(_, item)| item.clone()),
        );
        if let Some(found) = super::first_match(state, &group, after)? {
            first = Some(first.map_or(found, |f: Pos| f.min(found)));
        }
    }
    Ok(first)
}

/// Rule 1: whether `events` repeat an earlier append — `Ok(Some(last))` for
/// an exact repeat, `Ok(None)` when none of their ids is stored, and an
/// error when some are stored by a different append.
fn repeat(state: &State, events: &[EventRecord]) -> Result<Option<Position>, AppendError> {
    let below = state.below().filter(|below| below.has_ids());
    if (!state.has_ids() && below.is_none()) || events.iter().all(|e| e.id().is_none()) {
        return Ok(None);
    }
    // The tail's ids first; those of the events below it are asked of
    // what keeps them.
    let position_of_id = |id: &Uuid| -> Result<Option<Pos>, AppendError> {
        match (state.position_of_id(id), below) {
            (Some(position), _) => Ok(Some(position)),
            (None, Some(below)) => below.position_of_id(id).map_err(AppendError::Backend),
            (None, None) => Ok(None),
        }
    };
    let repeats = |position: Pos, event: &EventRecord| -> Result<bool, AppendError> {
        if position > state.base() {
            return Ok(state.event(position).repeats(event));
        }
        let stored = match below {
            Some(below) => below.event(position).map_err(AppendError::Backend)?,
            None => None,
        };
        Ok(stored.is_some_and(|stored| stored.repeats(event)))
    };
    let first = match events[0].id() {
        Some(id) => position_of_id(&id)?,
        None => None,
    };
    if let Some(first) = first {
        let mut exact = true;
        for (i, event) in events.iter().enumerate() {
            let position = first + i as Pos;
            // The id lookup comes first: it proves `position` is stored.
            let stored_here = match event.id() {
                Some(id) => position_of_id(&id)? == Some(position),
                None => false,
            };
            if !stored_here || !repeats(position, event)? {
                exact = false;
                break;
            }
        }
        if exact {
            return Ok(Position::new(first + events.len() as Pos - 1));
        }
    }
    for event in events {
        if let Some(id) = event.id()
            && let Some(stored) = position_of_id(&id)?
            && let Some(position) = Position::new(stored)
        {
            return Err(AppendError::DuplicateEventId { id, position });
        }
    }
    Ok(None)
}

/// Rule 3: whether `events` fit in the indexes.
fn capacity(state: &State, events: &[EventRecord]) -> Result<(), AppendError> {
    if state.end() + events.len() as Pos >= MAX_EVENTS {
        return Err(AppendError::Backend(BackendError::new(format!(
            "the store is full: it indexes at most {MAX_EVENTS} events"
        ))));
    }
    if state.type_count() + events.len() > MAX_TYPES {
        let mut new_types: Vec<&EventType> = events
            .iter()
            .map(EventRecord::event_type)
            .filter(|t| !state.knows_type(t))
            .collect();
        new_types.sort_unstable();
        new_types.dedup();
        if state.type_count() + new_types.len() > MAX_TYPES {
            return Err(AppendError::Backend(BackendError::new(format!(
                "the store indexes at most {MAX_TYPES} distinct event types"
            ))));
        }
    }
    Ok(())
}
