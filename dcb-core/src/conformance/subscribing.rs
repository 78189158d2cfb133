//! Subscriptions ([`EventStore::subscribe`]): woken by appends; catch-up,
//! then live; every matching event once, in order; bounded batches;
//! resumable positions.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::oneshot;

use super::Options;
use super::support::{append, ev, ev_data, join, read, tagged};
use crate::{EventStore, Position, Query, ReadOptions, SequencedEvent, Subscription};

/// How long a case waits for an event it knows is coming before it
/// declares the subscription stuck. Generous: it only bounds a hang.
const PATIENCE: Duration = Duration::from_mins(1);

/// The next event of `subscription`, which must arrive.
async fn next<S: EventStore>(subscription: &mut Subscription<S>, what: &str) -> SequencedEvent {
    match tokio::time::timeout(PATIENCE, subscription.next()).await {
        Ok(Ok(event)) => event,
        Ok(Err(e)) => panic!("{what}: the subscription failed: {e}"),
        Err(tokio::time::error::Elapsed { .. }) => {
            panic!("{what}: no event within {PATIENCE:?}; the subscription did not wake")
        }
    }
}

/// What [`Subscription::try_next`] returns, which must not fail.
async fn try_next<S: EventStore>(subscription: &mut Subscription<S>) -> Option<SequencedEvent> {
    subscription
        .try_next()
        .await
        .unwrap_or_else(|e| panic!("try_next failed: {e}"))
}

/// The positions of the stored events matching `query`.
async fn stored_positions<S: EventStore>(store: &S, query: &Query) -> Vec<u64> {
    read(store, query, ReadOptions::new())
        .await
        .events
        .iter()
        .map(|event| event.position.get())
        .collect()
}

fn batch(size: usize) -> NonZeroUsize {
    NonZeroUsize::new(size).expect("the suite's batch sizes are not zero")
}

/// [`EventStore::wait_for_append`] resolves at once when the head is past
/// the given position, and otherwise waits until an append moves it past.
///
/// With [`Options::wakes_without_timers`] the wait runs on a runtime
/// without timers, where the trait's polling default (which sleeps between
/// heads) cannot run: the append itself must wake it. A store, or an `Arc`
/// or `&` of one, that falls back to the default fails here, where the
/// other subscription cases would pass by polling.
pub async fn an_append_wakes_wait_for_append<S: EventStore + 'static>(store: S, options: &Options) {
    let store = Arc::new(store);
    let first = append(&*store, vec![ev("Joined", &["course:1"])]).await;
    let (waiting, waits) = oneshot::channel();
    let (ended, outcome) = oneshot::channel();
    let waiter = wait_past(Arc::clone(&store), first, waiting);
    if options.wakes_without_timers {
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime without timers");
            let result = catch_unwind(AssertUnwindSafe(|| runtime.block_on(waiter)));
            let _ = ended.send(result.map_err(|panic| message(&*panic)));
        });
    } else {
        tokio::spawn(async move {
            let result = futures_util::FutureExt::catch_unwind(AssertUnwindSafe(waiter)).await;
            let _ = ended.send(result.map_err(|panic| message(&*panic)));
        });
    }
    let without = if options.wakes_without_timers {
        " on a runtime without timers"
    } else {
        ""
    };
    let outcome = match tokio::time::timeout(PATIENCE, waits).await {
        Ok(Ok(())) => {
            append(&*store, vec![ev("Joined", &["course:2"])]).await;
            outcome
        }
        // The waiter ended before it waited: it failed.
        Ok(Err(_)) => outcome,
        Err(tokio::time::error::Elapsed { .. }) => {
            panic!("wait_for_append(after the head) did not start waiting within {PATIENCE:?}")
        }
    };
    match tokio::time::timeout(PATIENCE, outcome).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(reason))) => wait_failed(without, &reason),
        Ok(Err(_)) => wait_failed(without, "it ended without a word"),
        Err(tokio::time::error::Elapsed { .. }) => panic!(
            "an append past the position did not wake wait_for_append{without} \
             within {PATIENCE:?}"
        ),
    }
}

/// Fails [`an_append_wakes_wait_for_append`]: its waiter failed for
/// `reason`.
fn wait_failed(without: &str, reason: &str) -> ! {
    panic!(
        "wait_for_append{without} failed: {reason}\nA store whose wait_for_append needs a \
         timer (the trait's polling default sleeps) runs with \
         Options::wakes_without_timers(false); an Arc or & of a store, or a wrapper, must \
         forward wait_for_append to the store's own"
    )
}

/// Waits, in `wait_for_append`, for an append past `first` (the stored
/// head), and says on `waiting` once it waits. Spurious wake-ups, which
/// the contract allows, wait again.
async fn wait_past<S: EventStore + 'static>(
    store: Arc<S>,
    first: Position,
    waiting: oneshot::Sender<()>,
) {
    if let Err(e) = store.wait_for_append(None).await {
        panic!("wait_for_append(None) with an event stored failed: {e}");
    }
    let mut waiting = Some(waiting);
    loop {
        let mut wait = pin!(store.wait_for_append(Some(first)));
        let polled = poll_fn(|cx| Poll::Ready(wait.as_mut().poll(cx))).await;
        let result = match polled {
            Poll::Ready(result) => result,
            Poll::Pending => {
                if let Some(waiting) = waiting.take() {
                    let _ = waiting.send(());
                }
                wait.await
            }
        };
        if let Err(e) = result {
            panic!("wait_for_append(Some({first})) failed: {e}");
        }
        let now = store
            .head()
            .await
            .unwrap_or_else(|e| panic!("head() failed: {e}"));
        if now > Some(first) {
            return;
        }
    }
}

/// The message of a panic's payload.
fn message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// The stored matches come first, in order; then the subscription reports
/// that it has caught up; then an append of a matching event reaches a
/// subscription already waiting for it, and a non-matching one does not.
pub async fn catches_up_then_goes_live<S: EventStore + 'static>(store: S) {
    let store = Arc::new(store);
    for i in 0..5 {
        let course = if i % 2 == 0 { "course:1" } else { "course:2" };
        append(&*store, vec![ev_data("Joined", &[course], i.to_string())]).await;
    }
    let mut subscription = store
        .subscribe(tagged(&["course:1"]), None)
        .batch_size(batch(2));
    let mut caught_up = Vec::new();
    while let Some(event) = try_next(&mut subscription).await {
        caught_up.push(event.position.get());
    }
    assert_eq!(
        caught_up,
        [1, 3, 5],
        "catch-up delivers the stored matches in order"
    );
    assert!(
        subscription.is_caught_up(),
        "after try_next returned None the subscription has caught up"
    );
    assert_eq!(subscription.position().map(Position::get), Some(5));

    let waiting = tokio::spawn(async move {
        let first = next(&mut subscription, "live").await;
        (first, subscription)
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    append(&*store, vec![ev("Joined", &["course:2"])]).await;
    append(&*store, vec![ev("Joined", &["course:1"])]).await;
    let (first, mut subscription) = join(waiting).await;
    assert_eq!(
        first.position.get(),
        7,
        "the waiting subscription receives the next matching event, not the non-matching one"
    );
    assert!(
        try_next(&mut subscription).await.is_none(),
        "nothing else matches yet"
    );
}

/// A subscription starts after the position it is given.
pub async fn starts_after_the_given_position<S: EventStore + 'static>(store: S) {
    let store = Arc::new(store);
    for _ in 0..4 {
        append(&*store, vec![ev("Joined", &["course:1"])]).await;
    }
    let mut subscription = store.subscribe(tagged(&["course:1"]), Position::new(2));
    let mut positions = Vec::new();
    while let Some(event) = try_next(&mut subscription).await {
        positions.push(event.position.get());
    }
    assert_eq!(positions, [3, 4], "a subscription after 2 starts at 3");
}

/// Reads never hold more than one batch: [`Subscription::next_batch`]
/// returns at most the batch size, and the batches together are the
/// matches in order.
pub async fn reads_in_bounded_batches<S: EventStore + 'static>(store: S) {
    let store = Arc::new(store);
    let events = (0..23)
        .map(|i| ev_data("Joined", &["course:1"], i.to_string()))
        .collect();
    append(&*store, events).await;
    let mut subscription = store
        .subscribe(tagged(&["course:1"]), None)
        .batch_size(batch(4));
    let mut positions = Vec::new();
    while positions.len() < 23 {
        let events = tokio::time::timeout(PATIENCE, subscription.next_batch())
            .await
            .expect("stored events arrive without waiting")
            .unwrap_or_else(|e| panic!("next_batch failed: {e}"));
        assert!(
            !events.is_empty() && events.len() <= 4,
            "a batch holds 1 to 4 events with batch size 4, not {}",
            events.len()
        );
        positions.extend(events.iter().map(|event| event.position.get()));
    }
    assert_eq!(positions, (1..=23).collect::<Vec<u64>>());
}

/// A subscription's position is a checkpoint: a new subscription after it
/// goes on with the next event, nothing skipped and nothing repeated.
pub async fn position_resumes_without_gaps_or_repeats<S: EventStore + 'static>(store: S) {
    let store = Arc::new(store);
    for i in 0..10 {
        let tag = if i % 3 == 0 { "other:1" } else { "course:1" };
        append(&*store, vec![ev("Joined", &[tag])]).await;
    }
    let query = tagged(&["course:1"]);
    let mut first = store.subscribe(query.clone(), None).batch_size(batch(3));
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(next(&mut first, "first subscription").await.position.get());
    }
    let checkpoint = first.position();
    assert_eq!(checkpoint.map(Position::get), seen.last().copied());
    drop(first);
    let mut second = store.subscribe(query.clone(), checkpoint);
    while let Some(event) = try_next(&mut second).await {
        seen.push(event.position.get());
    }
    let stored = stored_positions(&*store, &query).await;
    assert_eq!(
        seen, stored,
        "the two subscriptions together deliver each match once"
    );
}

/// How many events each writer appends in the concurrent case.
const PER_WRITER: usize = 50;
/// How many writers append at once in the concurrent case.
const WRITERS: usize = 8;

/// While several tasks append, a live subscription delivers every matching
/// event exactly once in increasing position order — also in a store where
/// appends commit out of position order.
pub async fn live_under_concurrent_appends_misses_nothing<S: EventStore + 'static>(store: S) {
    let store = Arc::new(store);
    let query = tagged(&["course:1"]);
    let subscription = store.subscribe(query.clone(), None).batch_size(batch(7));
    let reader = tokio::spawn(async move {
        let mut subscription = subscription;
        let mut positions = Vec::new();
        while positions.len() < WRITERS * PER_WRITER {
            positions.push(next(&mut subscription, "concurrent").await.position.get());
        }
        (positions, subscription)
    });
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    let data = format!("{writer}:{i}");
                    let events = vec![
                        ev_data("Joined", &["course:1"], data.clone()),
                        ev_data("Joined", &["course:2"], data),
                    ];
                    store
                        .append(events, None)
                        .await
                        .unwrap_or_else(|e| panic!("writer {writer}: append failed: {e}"));
                }
            })
        })
        .collect();
    for writer in writers {
        join(writer).await;
    }
    let (positions, mut subscription) = join(reader).await;
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "positions strictly increase: {positions:?}"
    );
    let stored = stored_positions(&*store, &query).await;
    assert_eq!(
        positions, stored,
        "the subscription delivered exactly the stored matches"
    );
    assert!(
        try_next(&mut subscription).await.is_none(),
        "and nothing more"
    );
}
