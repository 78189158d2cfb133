//! Decisions served from known state (issue 28): a decider with a
//! `KnownState` decides from the states it kept, without reading; a stale
//! state only makes the append conflict, then the decision is read and made
//! again; a refusal from known state is confirmed by a read; the parts of a
//! composite seen at different positions do not conflict spuriously.

use std::sync::atomic::{AtomicU64, Ordering};

use dcb_core::{
    AppendCondition, AppendError, Decider, Event, EventRecord, EventStore, Id, InMemoryStore,
    KnownState, Position, Query, ReadError, ReadOptions, decision,
};
use serde::{Deserialize, Serialize};

use crate::support::block_on;

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[id(prefix = "table")]
struct TableId(dcb_core::Uuid);

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(name = "KnownStateSeatTaken")]
struct SeatTaken {
    #[tag]
    table_id: TableId,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(name = "KnownStateSeatFreed")]
struct SeatFreed {
    #[tag]
    table_id: TableId,
}

/// How many of a table's four seats are taken.
#[decision]
#[derive(Clone, Debug)]
struct Seats {
    #[boundary]
    table_id: TableId,
    taken: u32,
}

#[decision]
impl Seats {
    fn taken(&mut self, _: &SeatTaken) {
        self.taken += 1;
    }

    fn freed(&mut self, _: &SeatFreed) {
        self.taken = self.taken.saturating_sub(1);
    }
}

const SEATS: u32 = 4;

fn take(seats: &Seats) -> Result<SeatTaken, &'static str> {
    if seats.taken < SEATS {
        Ok(SeatTaken {
            table_id: seats.table_id,
        })
    } else {
        Err("the table is full")
    }
}

/// Takes a seat at each of the two tables at once.
fn take_both((a, b): &(Seats, Seats)) -> Result<(SeatTaken, SeatTaken), &'static str> {
    Ok((take(a)?, take(b)?))
}

/// A store that counts its reads.
struct Reads<S> {
    store: S,
    reads: AtomicU64,
}

impl<S> Reads<S> {
    fn new(store: S) -> Reads<S> {
        Reads {
            store,
            reads: AtomicU64::new(0),
        }
    }

    fn count(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

impl<S: EventStore> EventStore for Reads<S> {
    type Stream = S::Stream;

    fn read(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<Self::Stream, ReadError>> + Send {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.store.read(query, options)
    }

    async fn append(
        &self,
        events: Vec<EventRecord>,
        condition: Option<AppendCondition>,
    ) -> Result<Position, AppendError> {
        self.store.append(events, condition).await
    }

    fn head(&self) -> impl Future<Output = Result<Option<Position>, ReadError>> + Send {
        self.store.head()
    }
}

#[test]
fn decisions_after_the_first_are_served_without_a_read() {
    block_on(async {
        let store = Reads::new(InMemoryStore::new());
        let known = KnownState::new(1 << 20);
        let decider = Decider::new(&store).known(&known);
        let table_id = TableId::new();
        for _ in 0..3 {
            decider.decide(Seats::new(table_id), take).await.unwrap();
        }
        assert_eq!(store.count(), 1, "only the first decision reads");
        let stats = known.stats();
        assert_eq!((stats.served, stats.read, stats.stale), (2, 1, 0));
        assert_eq!(stats.entries, 1);
    });
}

#[test]
fn a_stale_state_conflicts_and_is_read_again_never_deciding_wrong() {
    block_on(async {
        let store = InMemoryStore::new();
        let known = KnownState::new(1 << 20);
        let mine = Decider::new(&store).known(&known);
        let theirs = Decider::new(&store);
        let table_id = TableId::new();
        for _ in 0..SEATS - 1 {
            mine.decide(Seats::new(table_id), take).await.unwrap();
        }
        // Another process takes the last seat: the kept state (3 taken) is
        // stale.
        theirs.decide(Seats::new(table_id), take).await.unwrap();
        let refused = mine.decide(Seats::new(table_id), take).await.unwrap_err();
        assert_eq!(refused.rejected(), Some("the table is full"));
        let stored = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .unwrap();
        assert_eq!(stored.events.len(), SEATS as usize, "no fifth seat");
        assert_eq!(known.stats().stale, 1);
    });
}

#[test]
fn a_refusal_from_known_state_is_confirmed_by_a_read() {
    block_on(async {
        let store = InMemoryStore::new();
        let known = KnownState::new(1 << 20);
        let mine = Decider::new(&store).known(&known);
        let table_id = TableId::new();
        for _ in 0..SEATS {
            mine.decide(Seats::new(table_id), take).await.unwrap();
        }
        // Another process frees a seat: the kept state (full) is stale, and
        // no append condition would tell, since a refusal appends nothing.
        Decider::new(&store)
            .decide(Seats::new(table_id), |_: &Seats| {
                Ok::<_, &str>(SeatFreed { table_id })
            })
            .await
            .unwrap();
        mine.decide(Seats::new(table_id), take)
            .await
            .expect("the freed seat is taken");
    });
}

#[test]
fn parts_seen_at_different_positions_do_not_conflict() {
    block_on(async {
        let store = InMemoryStore::new();
        let known = KnownState::new(1 << 20);
        let decider = Decider::new(&store).known(&known);
        let (a, b) = (TableId::new(), TableId::new());
        decider.decide(Seats::new(b), take).await.unwrap();
        // Table a is known after table b's last event, and has events after
        // it: a condition with b's position for both would fail on them.
        decider.decide(Seats::new(a), take).await.unwrap();
        decider.decide(Seats::new(a), take).await.unwrap();
        decider
            .decide((Seats::new(a), Seats::new(b)), take_both)
            .await
            .unwrap();
        let stats = known.stats();
        assert_eq!(stats.stale, 0, "no spurious conflict: {stats:?}");
        assert_eq!(stats.served, 2, "{stats:?}");
        // The composite's parts are kept after its append, in any order.
        decider
            .decide((Seats::new(b), Seats::new(a)), take_both)
            .await
            .unwrap();
        let stats = known.stats();
        assert_eq!((stats.served, stats.stale), (3, 0), "{stats:?}");
    });
}

#[test]
fn a_new_boundary_is_decided_without_a_read() {
    block_on(async {
        let store = Reads::new(InMemoryStore::new());
        let known = KnownState::new(1 << 20);
        let decider = Decider::new(&store).known(&known);
        let table_id = TableId::new();
        decider
            .decide_new(Seats::new(table_id), take)
            .await
            .unwrap();
        decider.decide(Seats::new(table_id), take).await.unwrap();
        assert_eq!(store.count(), 0, "new, then known: nothing read");
        // Not new: the append conflicts, and the decision reads.
        let other = Decider::new(&store);
        other.decide_new(Seats::new(table_id), take).await.unwrap();
        assert_eq!(store.count(), 1);
        let stored = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .unwrap();
        assert_eq!(stored.events.len(), 3);
    });
}

/// A table's seats with the number allowed given per decision.
#[decision]
#[derive(Clone, Debug)]
struct SeatsUpTo {
    #[boundary]
    table_id: TableId,
    #[param]
    allowed: u32,
    taken: u32,
}

#[decision]
impl SeatsUpTo {
    fn taken(&mut self, _: &SeatTaken) {
        self.taken += 1;
    }
}

fn take_up_to(seats: &SeatsUpTo) -> Result<SeatTaken, &'static str> {
    if seats.taken < seats.allowed {
        Ok(SeatTaken {
            table_id: seats.table_id,
        })
    } else {
        Err("no seat allowed")
    }
}

// A `#[param]` is one decision's input: a kept state would bring back the
// previous decision's (4 allowed) and let a second seat through where this
// decision allows one.
#[test]
fn a_state_with_parameters_is_never_kept() {
    block_on(async {
        let store = InMemoryStore::new();
        let known = KnownState::new(1 << 20);
        let decider = Decider::new(&store).known(&known);
        let table_id = TableId::new();
        decider
            .decide(SeatsUpTo::new(table_id, 4), take_up_to)
            .await
            .unwrap();
        let refused = decider
            .decide(SeatsUpTo::new(table_id, 1), take_up_to)
            .await
            .unwrap_err();
        assert_eq!(refused.rejected(), Some("no seat allowed"));
        assert_eq!((known.stats().entries, known.stats().served), (0, 0));
    });
}
