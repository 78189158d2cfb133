//! Faults of the PostgreSQL store (issue 6, item 6): connections
//! terminated with `pg_terminate_backend` in the middle of appends. An
//! append that gets an error must be stored completely or not at all; an
//! idempotent retry with the same event ids returns the original position
//! if it was stored and stores it once if not; the store keeps working
//! afterwards. (The server restart is in `postgres_restart.rs`, a binary of
//! its own; an append committed whose reply is lost, which terminations do
//! not reach, in `postgres_lost_replies.rs`.) When the server is unreachable
//! (and not required) each test warns loudly and returns.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dcb_core::postgres::PostgresStore;
use dcb_core::{
    AppendCondition, AppendError, EventRecord, EventStore, EventType, Position, Query, QueryItem,
    ReadOptions, SequencedEvent, Tag, Uuid,
};

use crate::postgres_support::{raw_client, runtime, temp_schema};

const EVENTS_PER_APPEND: usize = 40;

fn batch_tag(i: usize) -> Tag {
    Tag::new(format!("append:{i}")).expect("a tag")
}

fn batch_query(i: usize) -> Query {
    Query::from(QueryItem::new().tags([batch_tag(i)]))
}

/// Append `i`: events with fresh ids, each tagged `append:<i>` and with a
/// few more tags so that the append does some work.
fn batch(i: usize, n: usize) -> Vec<EventRecord> {
    (0..n)
        .map(|j| {
            EventRecord::new(EventType::from_static("Loaded"), format!("{i}/{j}"))
                .with_tags([
                    batch_tag(i),
                    Tag::new(format!("item:{j}")).unwrap(),
                    Tag::from_static("kind:load"),
                ])
                .with_id(Uuid::new_v4())
        })
        .collect()
}

/// The condition of append `i`: "no event of append `i` exists yet". An
/// idempotent retry of a stored append must still return its position.
fn batch_condition(i: usize) -> AppendCondition {
    AppendCondition::new(batch_query(i))
}

/// Reads append `i`'s events, retrying a read that fails because its
/// pooled connection was terminated (a bounded number of times).
async fn read_batch(store: &PostgresStore, i: usize) -> Vec<SequencedEvent> {
    let mut last_error = None;
    for _ in 0..20 {
        match store.read_to_end(&batch_query(i), ReadOptions::new()).await {
            Ok(result) => return result.events,
            Err(e) => last_error = Some(e),
        }
    }
    panic!("reading append {i} kept failing: {last_error:?}");
}

/// Append `i` is stored either completely, at consecutive positions in
/// order, or not at all. Returns its last position when stored.
fn all_or_nothing(i: usize, sent: &[EventRecord], stored: &[SequencedEvent]) -> Option<Position> {
    if stored.is_empty() {
        return None;
    }
    assert_eq!(
        stored.len(),
        sent.len(),
        "append {i} is stored partially: {} of {} events",
        stored.len(),
        sent.len()
    );
    let first = stored[0].position.get();
    for (j, (s, e)) in stored.iter().zip(sent).enumerate() {
        assert_eq!(
            s.position.get(),
            first + u64::try_from(j).unwrap(),
            "append {i}: positions not consecutive"
        );
        assert_eq!(s.event.id(), e.id(), "append {i}: event {j} out of order");
        assert_eq!(s.event.data(), e.data(), "append {i}: event {j} data");
    }
    Some(stored.last().unwrap().position)
}

/// Retries append `i` with the same events (same ids) until it succeeds,
/// a bounded number of times.
async fn retry(store: &PostgresStore, i: usize, events: &[EventRecord]) -> Position {
    let mut last_error = None;
    for _ in 0..50 {
        match store
            .append(events.to_vec(), Some(batch_condition(i)))
            .await
        {
            Ok(position) => return position,
            Err(AppendError::Backend(e)) => last_error = Some(e),
            Err(e) => panic!("the retry of append {i} failed: {e}"),
        }
    }
    panic!("the retry of append {i} kept failing: {last_error:?}");
}

/// Every append of `sent` is in `log` exactly once, completely, at the
/// position acknowledged in `acked`.
fn each_append_once(
    log: &[SequencedEvent],
    sent: &[Vec<EventRecord>],
    acked: &[(usize, Position)],
) {
    let mut by_append: HashMap<&str, Vec<SequencedEvent>> = HashMap::new();
    for event in log {
        let tag = event
            .event
            .tags()
            .iter()
            .find(|t| t.as_str().starts_with("append:"));
        let tag = tag.expect("every event has its append's tag").as_str();
        by_append.entry(tag).or_default().push(event.clone());
    }
    assert_eq!(acked.len(), sent.len(), "every append was acknowledged");
    for (i, position) in acked {
        let stored = by_append.remove(batch_tag(*i).as_str()).unwrap_or_default();
        assert_eq!(all_or_nothing(*i, &sent[*i], &stored), Some(*position));
    }
    assert!(by_append.is_empty(), "events of unknown appends");
}

/// Terminates, in a loop until `stop`, every backend running this
/// schema's `dcb_append` at that moment, except while `paused`; counts
/// them in `terminated`.
async fn terminator(
    client: tokio_postgres::Client,
    schema: String,
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    terminated: Arc<AtomicU64>,
) {
    let pattern = format!("%\"{schema}\".dcb_append%");
    let mut tick = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if paused.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let row = client
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND state = 'active' AND query LIKE $1",
                &[&pattern],
            )
            .await
            .expect("the terminator's query");
        let n: i64 = row.get(0);
        terminated.fetch_add(u64::try_from(n).unwrap(), Ordering::Relaxed);
        tick += 1;
        // Vary the moment a little.
        tokio::time::sleep(Duration::from_micros(tick % 7 * 300)).await;
    }
}

/// Appends in a loop while another task terminates their backends. Every
/// append that failed is verified all-or-nothing, then retried with the
/// same ids: the retry returns the original position when it had been
/// stored, and stores it exactly once when not.
#[test]
fn terminated_appends_are_all_or_nothing_and_retries_are_idempotent() {
    runtime(4).block_on(async {
        let Some(temp) = temp_schema(4).await else {
            return;
        };
        let Some(killer) = raw_client().await else {
            return;
        };
        let store = temp.store.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let terminated = Arc::new(AtomicU64::new(0));
        let kill_task = tokio::spawn(terminator(
            killer,
            store.schema().to_owned(),
            stop.clone(),
            paused.clone(),
            terminated.clone(),
        ));

        let started = Instant::now();
        let mut sent: Vec<Vec<EventRecord>> = Vec::new();
        let mut acked: Vec<(usize, Position)> = Vec::new();
        let (mut failed_stored, mut failed_not_stored) = (0, 0);
        // Until 50 appends failed, or 6 s passed.
        while failed_stored + failed_not_stored < 50 && started.elapsed() < Duration::from_secs(6) {
            let i = sent.len();
            let events = batch(i, EVENTS_PER_APPEND);
            sent.push(events.clone());
            match store.append(events.clone(), Some(batch_condition(i))).await {
                Ok(position) => acked.push((i, position)),
                Err(AppendError::Backend(_)) => {
                    // Verify and retry with the terminator paused (a
                    // termination still in progress may hit the first
                    // retry, which is retried in turn).
                    paused.store(true, Ordering::SeqCst);
                    let stored = read_batch(&store, i).await;
                    let before = all_or_nothing(i, &events, &stored);
                    let position = retry(&store, i, &events).await;
                    if let Some(original) = before {
                        failed_stored += 1;
                        assert_eq!(
                            position, original,
                            "the retry of stored append {i} returns its original position"
                        );
                    } else {
                        failed_not_stored += 1;
                    }
                    let after = read_batch(&store, i).await;
                    assert_eq!(
                        all_or_nothing(i, &events, &after),
                        Some(position),
                        "append {i} is stored once, ending at the retry's position"
                    );
                    acked.push((i, position));
                    paused.store(false, Ordering::SeqCst);
                }
                Err(e) => panic!("append {i}: unexpected error {e}"),
            }
        }
        stop.store(true, Ordering::SeqCst);
        kill_task.await.expect("the terminator ran to the end");
        assert!(
            failed_stored + failed_not_stored > 0,
            "no append was terminated ({} backends terminated): the test tested nothing",
            terminated.load(Ordering::SeqCst)
        );

        // The store keeps working: the pool replaces the dead connections.
        // A pooled connection terminated just after its call returned may
        // fail once; the pool holds at most 4.
        let mut attempts = 0;
        let last = loop {
            attempts += 1;
            let i = sent.len();
            let events = batch(i, 1);
            match store.append(events.clone(), Some(batch_condition(i))).await {
                Ok(position) => {
                    sent.push(events);
                    acked.push((i, position));
                    break position;
                }
                Err(AppendError::Backend(e)) if attempts <= 5 => {
                    eprintln!("append after the faults failed ({e}); trying again");
                }
                Err(e) => panic!("the store does not recover: {e}"),
            }
        };

        // Every append is stored exactly once, at its acknowledged position.
        let log = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .expect("reading everything");
        assert_eq!(log.head, Some(last));
        let total: usize = sent.iter().map(Vec::len).sum();
        assert_eq!(log.events.len(), total, "every append stored exactly once");
        each_append_once(&log.events, &sent, &acked);
        eprintln!(
            "postgres faults: {} appends, {failed_stored} failed but stored, \
             {failed_not_stored} failed and not stored, {} backends terminated, \
             recovered after {attempts} attempt(s), in {:?}",
            sent.len(),
            terminated.load(Ordering::SeqCst),
            started.elapsed()
        );
    });
}

/// A deterministic mid-append termination: the append waits for a
/// boundary lock held by an open transaction, is terminated while
/// waiting, and stores nothing; its retry with the same ids stores it once.
#[test]
fn an_append_terminated_while_waiting_for_its_boundary_stores_nothing() {
    runtime(4).block_on(async {
        let Some(temp) = temp_schema(4).await else {
            return;
        };
        let (Some(mut holder), Some(killer)) = (raw_client().await, raw_client().await) else {
            return;
        };
        let store = temp.store.clone();
        let schema = store.schema().to_owned();

        // An append of an event tagged `append:0`, left uncommitted: it holds
        // that tag's boundary lock.
        let tx = holder.transaction().await.unwrap();
        store
            .append_in_transaction(
                &tx,
                vec![
                    EventRecord::new(EventType::from_static("Held"), "held")
                        .with_tags([Tag::from_static("append:0")]),
                ],
                None,
            )
            .await
            .unwrap();

        // The store's append on that boundary waits for it.
        let events = batch(0, 3);
        let waiting = {
            let store = store.clone();
            let events = events.clone();
            tokio::spawn(async move { store.append(events, Some(batch_condition(0))).await })
        };
        let pattern = format!("%\"{schema}\".dcb_append%");
        let mut terminated = 0;
        for _ in 0..500 {
            let row = killer
                .query_one(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid() \
                     AND state = 'active' AND wait_event_type = 'Lock' AND query LIKE $1",
                    &[&pattern],
                )
                .await
                .unwrap();
            terminated = row.get::<_, i64>(0);
            if terminated > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(terminated, 1, "the waiting append was found and terminated");
        let result = waiting.await.unwrap();
        assert!(
            matches!(result, Err(AppendError::Backend(_))),
            "a terminated append is an error: {result:?}"
        );
        tx.rollback().await.unwrap();

        let stored = read_batch(&store, 0).await;
        assert!(stored.is_empty(), "the terminated append stored nothing");
        let position = retry(&store, 0, &events).await;
        let stored = read_batch(&store, 0).await;
        assert_eq!(all_or_nothing(0, &events, &stored), Some(position));
        // And once more: the original position, nothing written twice.
        assert_eq!(retry(&store, 0, &events).await, position);
        let all = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .unwrap();
        assert_eq!(all.events.len(), 3);
    });
}
