//! [`KnownState`]: the states of the decisions a process made, each with
//! the position up to which it is complete, kept so that the next decision
//! on the same boundary decides without reading.
//!
//! A state is kept per part of a decision — per `#[decision]` projection
//! and its query (its type and its boundary ids) — so that a composite
//! decision is served when each of its parts is known, even when they were
//! last seen at different positions: the append's condition then checks
//! each part after its own position ([`AppendCondition::of_parts`]).
//!
//! The append's condition guards every decision made from known state: a
//! state that became stale (another process appended to its boundary) can
//! only make the append conflict, after which the runner forgets the parts,
//! reads afresh and decides again. A refusal, or a decision to append
//! nothing, is not guarded by any condition, so the runner confirms it with
//! a fresh read before reporting it.
//!
//! [`AppendCondition::of_parts`]: crate::AppendCondition::of_parts

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use crate::{EventRecord, Position, Projection, Query, SequencedEvent};

/// The states of the decisions a process made, each kept with the position
/// up to which it is complete, bounded by an estimate of the memory they
/// take (least recently used first out). Cheap to clone: clones share the
/// states. Give it to a [`Decider`](crate::Decider) with
/// [`known`](crate::Decider::known).
///
/// A part of a decision is kept when it is a `#[decision]` projection whose
/// state is `Clone` and `'static`, that reads all its events (not
/// `#[decision(latest)]`), whose condition is its query (no
/// `#[no_conflict]` handler), that has no `#[param]` field (an input of one
/// call) and whose handlers take no second argument (a position, a time or
/// metadata, which the runner would have to invent for the events it
/// appended itself). A decision with a part that is not kept reads as
/// usual.
///
/// One `KnownState` belongs to one store: the positions it keeps are that
/// store's.
///
/// ```
/// use dcb_core::{Decider, Event, Id, InMemoryStore, KnownState, Retry, decision};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct TableId(dcb_core::Uuid);
///
/// #[derive(Event, Serialize, Deserialize)]
/// struct SeatTaken { #[tag] table_id: TableId }
///
/// /// How many of a table's four seats are taken.
/// #[decision]
/// #[derive(Clone)]
/// struct Seats { #[boundary] table_id: TableId, taken: u32 }
///
/// #[decision]
/// impl Seats {
///     fn taken(&mut self, _: &SeatTaken) { self.taken += 1; }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryStore::new();
/// let known = KnownState::new(16 << 20);
/// let decider = Decider::new(&store).retry(Retry::attempts(5)).known(&known);
/// let table_id = TableId::new();
/// let take = |seats: &Seats| if seats.taken < 4 { Ok(SeatTaken { table_id }) } else { Err("full") };
/// for _ in 0..4 {
///     decider.decide(Seats::new(table_id), take).await?;
/// }
/// // The second to fourth decisions were decided from the kept state.
/// assert_eq!(known.stats().served, 3);
/// // A refusal from known state is confirmed by a fresh read.
/// assert!(decider.decide(Seats::new(table_id), take).await.is_err());
/// # Ok::<(), dcb_core::DecideError<&str>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct KnownState {
    memory: Arc<Mutex<Memory>>,
}

impl KnownState {
    /// Keeps states up to about `budget` bytes (an estimate: each state's
    /// own size, its query's and the bookkeeping; not what a state owns on
    /// the heap, such as the elements of a `Vec`).
    #[must_use]
    pub fn new(budget: usize) -> KnownState {
        KnownState {
            memory: Arc::new(Mutex::new(Memory {
                entries: HashMap::default(),
                by_use: BTreeMap::new(),
                clock: 0,
                bytes: 0,
                budget,
                stats: KnownStats::default(),
            })),
        }
    }

    /// What the known state holds and has done so far.
    #[must_use]
    pub fn stats(&self) -> KnownStats {
        let memory = self.memory.lock();
        KnownStats {
            entries: memory.entries.len(),
            bytes: memory.bytes,
            ..memory.stats
        }
    }

    /// Forgets every state.
    pub fn clear(&self) {
        let mut memory = self.memory.lock();
        memory.entries.clear();
        memory.by_use.clear();
        memory.bytes = 0;
    }

    /// Puts the kept states of `projection`'s parts into it: the parts to
    /// check each after its own position, or `None` when some part is not
    /// known (then `projection` may hold a mix and must not be used).
    pub(crate) fn recall<P: Projection>(
        &self,
        projection: &mut P,
    ) -> Option<Vec<(Query, Option<Position>)>> {
        let mut parts = self.parts(Mode::Recall);
        projection.known_parts(&mut parts);
        let KnownParts {
            mut memory,
            complete,
            seen,
            ..
        } = parts;
        if complete && !seen.is_empty() {
            memory.stats.served += 1;
            Some(seen)
        } else {
            memory.stats.read += 1;
            None
        }
    }

    /// Keeps `projection`'s parts as complete up to `position`.
    pub(crate) fn remember<P: Projection>(&self, projection: &mut P, position: Option<Position>) {
        projection.known_parts(&mut self.parts(Mode::Remember(position)));
    }

    /// Keeps `projection`'s parts after its own `events`, appended under
    /// its condition with the last at `last`, are folded into it: then no
    /// other event its parts select came between, and each is complete up
    /// to `last`. An append's events are at consecutive positions.
    pub(crate) fn remember_after_append<P: Projection>(
        &self,
        mut projection: P,
        events: &[EventRecord],
        last: Position,
    ) {
        let Some(first) = (last.get() + 1).checked_sub(events.len() as u64) else {
            return;
        };
        for (offset, event) in (0..).zip(events) {
            let Some(position) = Position::new(first + offset) else {
                return;
            };
            let stored = SequencedEvent::new(position, event.clone());
            if projection.selects(&stored) && projection.apply(&stored).is_err() {
                // An event this process just encoded that does not decode:
                // nothing to keep.
                self.forget(&mut projection);
                return;
            }
        }
        self.remember(&mut projection, Some(last));
    }

    /// Forgets `projection`'s parts: a decision from them conflicted.
    pub(crate) fn forget<P: Projection>(&self, projection: &mut P) {
        let mut parts = self.parts(Mode::Forget);
        projection.known_parts(&mut parts);
        parts.memory.stats.stale += 1;
    }

    fn parts(&self, mode: Mode) -> KnownParts<'_> {
        KnownParts {
            memory: self.memory.lock(),
            mode,
            complete: true,
            seen: Vec::new(),
        }
    }
}

impl std::fmt::Debug for KnownState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownState")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// What a [`KnownState`] holds and has done since it was made.
///
/// ```
/// let known = dcb_core::KnownState::new(1 << 20);
/// let stats = known.stats();
/// assert_eq!((stats.entries, stats.served, stats.read), (0, 0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KnownStats {
    /// The parts kept now.
    pub entries: usize,
    /// Their estimated size, in bytes.
    pub bytes: usize,
    /// Decisions served from kept states, without a read.
    pub served: u64,
    /// Decisions that found a part unknown and read.
    pub read: u64,
    /// Decisions from kept states that conflicted (the states were stale),
    /// then read afresh.
    pub stale: u64,
    /// Parts dropped to stay within the budget.
    pub evicted: u64,
}

/// A kept part: the projection's type and query name it.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    projection: TypeId,
    query: Query,
}

struct Entry {
    state: Box<dyn Any + Send>,
    /// The position up to which `state` is complete; `None` before any
    /// event.
    complete_up_to: Option<Position>,
    bytes: usize,
    last_used: u64,
}

struct Memory {
    entries: HashMap<Key, Entry, foldhash::fast::RandomState>,
    /// The entries by their last use, oldest first.
    by_use: BTreeMap<u64, Key>,
    clock: u64,
    bytes: usize,
    budget: usize,
    stats: KnownStats,
}

impl Memory {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn get<P: Clone + 'static>(&mut self, key: &Key) -> Option<(P, Option<Position>)> {
        let now = self.tick();
        let entry = self.entries.get_mut(key)?;
        let state = entry.state.downcast_ref::<P>()?.clone();
        self.by_use.remove(&entry.last_used);
        entry.last_used = now;
        self.by_use.insert(now, key.clone());
        Some((state, entry.complete_up_to))
    }

    fn insert<P: Send + 'static>(&mut self, key: Key, state: P, complete_up_to: Option<Position>) {
        let bytes = ENTRY_BYTES + size_of::<P>() + query_bytes(&key.query);
        if bytes > self.budget {
            self.remove(&key);
            return;
        }
        let now = self.tick();
        self.remove(&key);
        self.by_use.insert(now, key.clone());
        self.bytes += bytes;
        self.entries.insert(
            key,
            Entry {
                state: Box::new(state),
                complete_up_to,
                bytes,
                last_used: now,
            },
        );
        while self.bytes > self.budget
            && let Some((_, oldest)) = self.by_use.pop_first()
        {
            if let Some(entry) = self.entries.remove(&oldest) {
                self.bytes -= entry.bytes;
                self.stats.evicted += 1;
            }
        }
    }

    fn remove(&mut self, key: &Key) {
        if let Some(entry) = self.entries.remove(key) {
            self.by_use.remove(&entry.last_used);
            self.bytes -= entry.bytes;
        }
    }
}

/// The bookkeeping of one entry, estimated: the map's slot and key, the
/// order's node, the box's header.
const ENTRY_BYTES: usize = 160;

fn query_bytes(query: &Query) -> usize {
    query
        .items()
        .iter()
        .map(|item| {
            48 + item
                .required_tags()
                .iter()
                .map(|tag| tag.as_str().len() + 24)
                .sum::<usize>()
                + item
                    .event_types()
                    .iter()
                    .map(|t| t.as_str().len() + 24)
                    .sum::<usize>()
        })
        .sum()
}

enum Mode {
    Recall,
    Remember(Option<Position>),
    Forget,
}

/// The parts of a decision visited for its known state: what
/// [`Projection::known_parts`] walks. Generated code uses it; it is not
/// meant to be used directly.
#[doc(hidden)]
pub struct KnownParts<'k> {
    memory: MutexGuard<'k, Memory>,
    mode: Mode,
    complete: bool,
    /// When recalling: each part's query and the position it is complete
    /// up to.
    seen: Vec<(Query, Option<Position>)>,
}

impl KnownParts<'_> {
    /// Visits a part that can be kept: recalls, keeps or forgets it.
    pub fn part<P: Projection + Clone + 'static>(&mut self, part: &mut P) {
        if P::LATEST.is_some() || P::NARROWS_CONDITION {
            self.not_kept();
            return;
        }
        if matches!(self.mode, Mode::Recall) && !self.complete {
            return;
        }
        let key = Key {
            projection: TypeId::of::<P>(),
            query: part.query(),
        };
        match self.mode {
            Mode::Recall => match self.memory.get::<P>(&key) {
                Some((state, complete_up_to)) => {
                    *part = state;
                    self.seen.push((key.query, complete_up_to));
                }
                None => self.complete = false,
            },
            Mode::Remember(position) => self.memory.insert(key, part.clone(), position),
            Mode::Forget => self.memory.remove(&key),
        }
    }

    /// Visits a part that cannot be kept: a decision with it always reads.
    pub fn not_kept(&mut self) {
        self.complete = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{QueryItem, Tag};

    fn key(n: u32) -> Key {
        Key {
            projection: TypeId::of::<u64>(),
            query: Query::from(QueryItem::new().tags([Tag::new(format!("table:{n}")).unwrap()])),
        }
    }

    #[test]
    fn the_least_recently_used_states_go_first_to_stay_within_the_budget() {
        let one = ENTRY_BYTES + size_of::<u64>() + query_bytes(&key(0).query);
        let known = KnownState::new(3 * one);
        let mut memory = known.memory.lock();
        for n in 0..3 {
            memory.insert(key(n), u64::from(n), Position::new(u64::from(n) + 1));
        }
        // Using the oldest makes the second the least recently used.
        assert_eq!(memory.get::<u64>(&key(0)), Some((0, Position::new(1))));
        memory.insert(key(3), 3, Position::new(4));
        assert_eq!(memory.entries.len(), 3);
        assert!(memory.bytes <= 3 * one);
        assert!(
            memory.get::<u64>(&key(1)).is_none(),
            "the least recently used went"
        );
        assert!(memory.get::<u64>(&key(0)).is_some());
        assert_eq!(memory.stats.evicted, 1);
        // A state larger than the whole budget is not kept at all.
        let tiny = KnownState::new(one - 1);
        tiny.memory.lock().insert(key(9), 9_u64, None);
        assert_eq!(tiny.stats().entries, 0);
    }

    #[test]
    fn a_state_kept_again_replaces_the_old_one() {
        let known = KnownState::new(1 << 20);
        let mut memory = known.memory.lock();
        memory.insert(key(0), 1_u64, Position::new(1));
        memory.insert(key(0), 2_u64, Position::new(5));
        assert_eq!(memory.entries.len(), 1);
        assert_eq!(memory.by_use.len(), 1);
        assert_eq!(memory.get::<u64>(&key(0)), Some((2, Position::new(5))));
        memory.remove(&key(0));
        assert_eq!(
            (memory.entries.len(), memory.by_use.len(), memory.bytes),
            (0, 0, 0)
        );
    }
}
