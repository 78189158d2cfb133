//! Reads and heads that share one lock, one round at a time.
//!
//! A read of everything, and `head()`, take the read barrier (the global
//! key, exclusively) to read a head that no append in flight lies below; a
//! read whose items each have a tag or a type takes its boundary's keys
//! instead (`LockKeys::for_read`), and reads a head that no append in
//! flight *of an event it matches* lies below. Either read then reads its
//! events up to that head. Many clients of one store reading under the
//! same lock at once — every read of everything, or the subscriptions of
//! one event type — would each queue for it, and every append arriving
//! meanwhile would queue behind them: a convoy (docs/decisions/0022,
//! 0036). So a store lets one read at a time take each lock, its *place*:
//! the barrier is one place, and each boundary (its set of keys) another.
//!
//! - A read that finds no other at its place takes the lock itself, in its
//!   own call of the read function, as it always did: a single client pays
//!   nothing.
//! - A read that arrives while another is at the place waits for the
//!   *next* round: once the place is free, one call under the same lock
//!   reads a head for every read that waited, and each then reads its
//!   events up to that head without the lock. A head (`head()`, and so a
//!   subscription's wait for appends) asked meanwhile is that round's
//!   head of the barrier, with no call of its own.
//!
//! Why the next round and not the current one: a head read before a read
//! was asked for may lie below an append that its caller saw acknowledged
//! (its own, typically), which the read must see. A round begins after
//! every read it serves was asked for, and its lock waits for every
//! append in flight that the lock covers, so its head is at or past every
//! such append acknowledged before those reads; and every position up to
//! it that those reads can match is settled, so a later snapshot sees
//! exactly their events up to it (docs/design.md, "The read barrier" and
//! "A read locks its own boundary, not the schema").
//!
//! The rounds run in a task of their own, as the append batches do
//! (`append.rs`); a read whose round fails is not told why: it takes the
//! lock itself, and its own error, if any, is the one it reports.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;

use tokio::sync::oneshot;

/// A round's head: the last position (0 for an empty store), as the read
/// functions take it.
pub(super) type Head = i64;

/// A store's places, one per lock `P` (`()` for the read barrier, the keys
/// for a boundary): whether a read or a round holds or waits for each, and
/// the reads waiting for its next round. A place is kept only while it is
/// taken.
pub(super) struct Rounds<P> {
    state: Mutex<State<P>>,
}

struct State<P> {
    taken: HashMap<P, Vec<oneshot::Sender<Head>>>,
    counts: RoundCounts,
}

impl<P> Default for Rounds<P> {
    fn default() -> Self {
        Rounds {
            state: Mutex::new(State {
                taken: HashMap::new(),
                counts: RoundCounts::default(),
            }),
        }
    }
}

/// What the store's reads and heads have done so far at their places.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundCounts {
    /// Reads and heads that took the lock themselves.
    pub alone: u64,
    /// Rounds run for the reads and heads that waited.
    pub rounds: u64,
    /// Reads and heads that waited for a round.
    pub waited: u64,
    /// Rounds whose head could not be read (their reads went alone).
    pub failed: u64,
}

/// How a read goes to its place.
pub(super) enum Turn {
    /// Nobody else is there: the read takes the lock itself, and then
    /// hands the place on with [`Rounds::next_or_release`].
    Alone,
    /// Another read is there: the head of the next round comes here (or
    /// nothing, if that round failed).
    Wait(oneshot::Receiver<Head>),
}

impl<P: Eq + Hash + Clone> Rounds<P> {
    /// Takes `place`, or a place in its next round.
    pub(super) fn turn(&self, place: &P) -> Turn {
        let mut state = self.lock();
        if let Some(waiting) = state.taken.get_mut(place) {
            let (sender, receiver) = oneshot::channel();
            waiting.push(sender);
            state.counts.waited += 1;
            Turn::Wait(receiver)
        } else {
            state.taken.insert(place.clone(), Vec::new());
            state.counts.alone += 1;
            Turn::Alone
        }
    }

    /// Ends a turn at `place`: the reads that arrived meanwhile, for whom
    /// the caller runs the next round (the place stays taken), or `None`,
    /// and the place is free.
    pub(super) fn next_or_release(&self, place: &P) -> Option<Vec<oneshot::Sender<Head>>> {
        let mut state = self.lock();
        let waiting = state.taken.get_mut(place)?;
        if waiting.is_empty() {
            state.taken.remove(place);
            None
        } else {
            let next = std::mem::take(waiting);
            state.counts.rounds += 1;
            Some(next)
        }
    }

    /// Counts a round whose head could not be read.
    fn failed(&self) {
        self.lock().counts.failed += 1;
    }

    /// What the reads have done so far.
    pub(super) fn counts(&self) -> RoundCounts {
        self.lock().counts
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<P>> {
        // The state is a map of lists and counters, each left whole by
        // every critical section: a panic elsewhere cannot break it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs the rounds of `place`: for `waiting`, then for the reads that
/// arrived while it ran, until none waits, each round one call of `head`
/// (which reads the head under the place's lock; `None` if it failed).
/// Then the place is free.
pub(super) async fn lead<P, F, Fut>(
    rounds: &Rounds<P>,
    place: &P,
    mut waiting: Vec<oneshot::Sender<Head>>,
    mut head: F,
) where
    P: Eq + Hash + Clone,
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<Head>>,
{
    loop {
        waiting.retain(|read| !read.is_closed());
        if !waiting.is_empty() {
            if let Some(head) = head().await {
                for read in waiting {
                    let _ = read.send(head);
                }
            } else {
                // Dropped unanswered: each read takes the lock itself.
                rounds.failed();
                drop(waiting);
            }
        }
        match rounds.next_or_release(place) {
            Some(next) => waiting = next,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::mpsc;

    use super::*;

    /// A round's `head` that waits for the test to give each round's
    /// value, and says when a round has begun.
    fn scripted(
        began: mpsc::UnboundedSender<()>,
        heads: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Option<Head>>>>,
    ) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = Option<Head>> + Send>> {
        move || {
            let began = began.clone();
            let heads = Arc::clone(&heads);
            Box::pin(async move {
                let _ = began.send(());
                heads.lock().await.recv().await.flatten()
            })
        }
    }

    fn waiting(turn: Turn) -> oneshot::Receiver<Head> {
        match turn {
            Turn::Wait(receiver) => receiver,
            Turn::Alone => panic!("expected to wait for a round"),
        }
    }

    #[tokio::test]
    async fn a_read_asked_during_a_round_gets_the_next_rounds_head() {
        let rounds = Arc::new(Rounds::<()>::default());
        assert!(matches!(rounds.turn(&()), Turn::Alone));
        let mut first = waiting(rounds.turn(&()));
        let mut second = waiting(rounds.turn(&()));

        // The read alone is done: a round begins for the two that waited.
        let next = rounds.next_or_release(&()).expect("two reads wait");
        let (round_began, mut rounds_begun) = mpsc::unbounded_channel();
        let (give, heads) = mpsc::unbounded_channel();
        let heads = Arc::new(tokio::sync::Mutex::new(heads));
        let leader = {
            let rounds = Arc::clone(&rounds);
            tokio::spawn(
                async move { lead(&rounds, &(), next, scripted(round_began, heads)).await },
            )
        };
        rounds_begun.recv().await.expect("the first round began");

        // Asked while the first round reads its head: not served by it.
        let mut late = waiting(rounds.turn(&()));
        give.send(Some(10)).unwrap();
        assert_eq!((&mut first).await, Ok(10));
        assert_eq!((&mut second).await, Ok(10));
        rounds_begun
            .recv()
            .await
            .expect("a second round began for the late read");
        assert!(
            late.try_recv().is_err(),
            "the late read waits for its own round"
        );
        give.send(Some(12)).unwrap();
        assert_eq!(late.await, Ok(12));

        leader.await.unwrap();
        assert!(
            matches!(rounds.turn(&()), Turn::Alone),
            "with nobody waiting, the place is free again"
        );
        assert_eq!(
            rounds.counts(),
            RoundCounts {
                alone: 2,
                rounds: 2,
                waited: 3,
                failed: 0
            }
        );
    }

    #[test]
    fn each_place_has_turns_of_its_own() {
        let rounds = Rounds::<Vec<i64>>::default();
        let (course, student) = (vec![1, 10], vec![1, 20]);
        assert!(matches!(rounds.turn(&course), Turn::Alone));
        assert!(
            matches!(rounds.turn(&student), Turn::Alone),
            "another boundary's place is free"
        );
        let waiting = waiting(rounds.turn(&course));
        assert!(rounds.next_or_release(&student).is_none());
        assert_eq!(
            rounds.next_or_release(&course).map(|next| next.len()),
            Some(1),
            "the course's next round serves the read that waited for it"
        );
        drop(waiting);
        assert!(rounds.next_or_release(&course).is_none());
        assert!(
            matches!(rounds.turn(&course), Turn::Alone),
            "a released place is free again"
        );
        assert_eq!(
            rounds.counts(),
            RoundCounts {
                alone: 3,
                rounds: 1,
                waited: 1,
                failed: 0
            }
        );
    }

    #[tokio::test]
    async fn a_failed_round_leaves_its_reads_to_take_the_barrier_themselves() {
        let rounds = Rounds::<()>::default();
        assert!(matches!(rounds.turn(&()), Turn::Alone));
        let read = waiting(rounds.turn(&()));
        let next = rounds.next_or_release(&()).expect("one read waits");
        lead(&rounds, &(), next, || async { None }).await;
        assert!(read.await.is_err(), "no head: the read is left to go alone");
        assert_eq!(rounds.counts().failed, 1);
        assert!(matches!(rounds.turn(&()), Turn::Alone));
    }

    #[tokio::test]
    async fn reads_that_stopped_waiting_cost_no_round() {
        let rounds = Rounds::<()>::default();
        assert!(matches!(rounds.turn(&()), Turn::Alone));
        drop(waiting(rounds.turn(&())));
        let next = rounds.next_or_release(&()).expect("one read was waiting");
        lead(&rounds, &(), next, || async {
            panic!("no round for reads that left")
        })
        .await;
        assert!(matches!(rounds.turn(&()), Turn::Alone));
    }
}
