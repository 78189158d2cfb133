//! Concurrent appends and reads, from tasks spawned on the current tokio
//! runtime (the generated tests use four worker threads).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Barrier;

use super::Options;
use super::support::{
    append, append_if, condition, ev_data, expect_conflict, head, join, numbers, read,
    read_everything, stream_all, tagged,
};
use crate::{
    AppendCondition, AppendError, EventStore, Position, Query, ReadOptions, ReadResult,
    SequencedEvent,
};

/// How many tasks race in each case.
const TASKS: usize = 16;

/// Reads `query` from a task, which must succeed.
async fn read_in_task<S: EventStore>(store: &S, query: &Query) -> ReadResult {
    match store.read_to_end(query, ReadOptions::new()).await {
        Ok(result) => result,
        Err(e) => panic!("a concurrent read of {query:?} failed: {e} ({e:?})"),
    }
}

/// The data of an event, as text.
fn text(event: &SequencedEvent) -> &str {
    std::str::from_utf8(event.data()).unwrap_or_else(|e| {
        panic!(
            "the event at {} does not carry the suite's text data: {e}",
            event.position
        )
    })
}

/// Numbers separated by `:` in an event's data.
fn fields(event: &SequencedEvent) -> Vec<u64> {
    text(event)
        .split(':')
        .map(|field| {
            field.parse().unwrap_or_else(|e| {
                panic!(
                    "the event at {} carries {:?}, not the suite's data: {e}",
                    event.position,
                    text(event)
                )
            })
        })
        .collect()
}

/// Checks that `positions` are `1..=n` when the store promises gap-free
/// positions, and strictly increasing in any case.
fn check_positions(positions: &[u64], options: &Options, what: &str) {
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{what}: positions must be unique and increasing, got {positions:?}"
    );
    if options.gap_free_positions {
        let n = positions.len() as u64;
        assert!(
            positions.iter().copied().eq(1..=n),
            "{what}: the store promises gap-free positions, so its {n} events must be at \
             1..={n}; got {positions:?}"
        );
    }
}

/// How many rounds the race of conditional appends runs.
const RACE_ROUNDS: usize = 8;

/// Tasks that read the same boundary and then race to append under the
/// read's head: in each round exactly one wins and every other fails with
/// the winner's position as the conflict.
pub async fn racing_conditional_appends_one_wins<S: EventStore + 'static>(store: S) {
    let store = Arc::new(store);
    let boundary = tagged(&["seat:1"]);
    let mut winners = Vec::new();
    for round in 0..RACE_ROUNDS {
        let barrier = Arc::new(Barrier::new(TASKS));
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let store = Arc::clone(&store);
                let barrier = Arc::clone(&barrier);
                let boundary = boundary.clone();
                tokio::spawn(async move {
                    let seen = read_in_task(&*store, &boundary).await;
                    barrier.wait().await;
                    let event = ev_data("SeatTaken", &["seat:1"], format!("{round}:{task}"));
                    let condition = AppendCondition::new(boundary).after(seen.head);
                    (seen.head, store.append(vec![event], Some(condition)).await)
                })
            })
            .collect();
        let mut results: Vec<(Option<Position>, Result<Position, AppendError>)> = Vec::new();
        for task in tasks {
            results.push(join(task).await);
        }
        let heads: Vec<Option<Position>> = results.iter().map(|(head, _)| *head).collect();
        assert!(
            heads.iter().all(|h| *h == heads[0]),
            "round {round}: reads with no append in between saw different heads: {heads:?}"
        );
        let wins: Vec<Position> = results
            .iter()
            .filter_map(|(_, result)| result.as_ref().ok().copied())
            .collect();
        assert_eq!(
            wins.len(),
            1,
            "round {round}: exactly one of {TASKS} racing conditional appends must win; \
             these won: {wins:?}"
        );
        let winner = wins[0];
        for (_, result) in results {
            if let Err(e) = result {
                let what = format!("round {round}: a losing append");
                assert_eq!(
                    expect_conflict(e, &what),
                    winner.get(),
                    "{what} conflicts with the winner's event"
                );
            }
        }
        winners.push(winner.get());
    }
    let stored = read(&*store, &boundary, ReadOptions::new()).await;
    assert_eq!(
        numbers(&stored).0,
        winners,
        "exactly the winners' events are stored"
    );
}

/// How many decisions each task makes in the disjoint-boundaries case.
const DECISIONS: usize = 10;

/// Tasks deciding on disjoint boundaries at the same time never conflict:
/// every conditional append wins.
pub async fn disjoint_boundaries_all_win<S: EventStore + 'static>(store: S, options: &Options) {
    let store = Arc::new(store);
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                let own_tag = format!("seat:{task}");
                let boundary = tagged(&[&own_tag]);
                barrier.wait().await;
                let mut positions = Vec::new();
                for decision in 0..DECISIONS {
                    let seen = read_in_task(&*store, &boundary).await;
                    assert_eq!(
                        seen.events.len(),
                        decision,
                        "task {task} sees exactly its own earlier events"
                    );
                    tokio::task::yield_now().await;
                    let event = ev_data("SeatTaken", &[&own_tag], format!("{task}:{decision}"));
                    let condition = AppendCondition::new(boundary.clone()).after(seen.head);
                    match store.append(vec![event], Some(condition)).await {
                        Ok(position) => positions.push(position.get()),
                        Err(e) => panic!(
                            "task {task}, decision {decision}: nobody else writes to {own_tag}, \
                             so the append must win; it failed with {e:?}"
                        ),
                    }
                }
                positions
            })
        })
        .collect();
    let mut per_task = Vec::new();
    for handle in tasks {
        per_task.push(join(handle).await);
    }
    let mut returned = Vec::new();
    for (task, positions) in per_task.into_iter().enumerate() {
        let stored = read(
            &*store,
            &tagged(&[&format!("seat:{task}")]),
            ReadOptions::new(),
        )
        .await;
        assert_eq!(
            numbers(&stored).0,
            positions,
            "the events of task {task} are where its appends said"
        );
        returned.extend(positions);
    }
    returned.sort_unstable();
    check_positions(&returned, options, "the positions of all decisions");
}

/// How many appends each task makes in the unconditional-append case.
const APPENDS: u64 = 25;

/// Many tasks appending without conditions get unique positions, each
/// append's events consecutive and in order, and `head()` covers every
/// append that returned.
pub async fn concurrent_appends_get_unique_positions<S: EventStore + 'static>(
    store: S,
    options: &Options,
) {
    let store = Arc::new(store);
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                let own_tag = format!("writer:{task}");
                barrier.wait().await;
                let mut appends = Vec::new();
                for seq in 0..APPENDS {
                    let size = seq % 3 + 1;
                    let events = (0..size)
                        .map(|k| ev_data("Written", &[&own_tag], format!("{task}:{seq}:{k}")))
                        .collect();
                    let last = append(&*store, events).await.get();
                    let seen = head(&*store).await;
                    assert!(
                        seen >= Some(last),
                        "head() is {seen:?} right after an append returned {last}"
                    );
                    appends.push((seq, size, last));
                }
                appends
            })
        })
        .collect();
    let mut appends = Vec::new();
    for (task, handle) in tasks.into_iter().enumerate() {
        appends.push((task as u64, join(handle).await));
    }
    let stored = read_everything(&*store).await;
    let positions: Vec<u64> = stored.events.iter().map(|e| e.position.get()).collect();
    check_positions(
        &positions,
        options,
        "the positions after concurrent appends",
    );
    let by_position: HashMap<u64, &SequencedEvent> = stored
        .events
        .iter()
        .map(|e| (e.position.get(), e))
        .collect();
    let mut total = 0;
    for (task, task_appends) in &appends {
        let mut previous = 0;
        for &(seq, size, last) in task_appends {
            let first = last + 1 - size;
            assert!(
                first > previous,
                "task {task}: append {seq} starts at {first}, before its previous one ended"
            );
            previous = last;
            for (k, position) in (first..=last).enumerate() {
                let event = by_position.get(&position).unwrap_or_else(|| {
                    panic!("task {task}: append {seq} returned {last}, but {position} is missing")
                });
                assert_eq!(
                    fields(event),
                    [*task, seq, k as u64],
                    "the event at {position} belongs to task {task}'s append {seq} \
                     (events of one append are consecutive and in order)"
                );
            }
            total += size;
        }
    }
    assert_eq!(
        positions.len() as u64,
        total,
        "every appended event is stored once"
    );
    assert_eq!(
        stored.head.map(Position::get),
        positions.last().copied(),
        "the head of a read of everything is the last position"
    );
}

/// How many writers and readers run in the consistent-prefix case.
const WRITERS: u64 = 4;
/// How many readers run in the consistent-prefix case.
const READERS: usize = 4;
/// How many appends each writer makes.
const BATCHES: u64 = 40;
/// How many events each append carries.
const BATCH: u64 = 3;

/// Checks one read of everything taken while writers append: a consistent
/// prefix of the sequence. Returns its events in position order.
fn check_prefix(result: ReadResult, backwards: bool, options: &Options, what: &str) -> ReadResult {
    let mut events = result.events;
    if backwards {
        events.reverse();
    }
    let positions: Vec<u64> = events.iter().map(|e| e.position.get()).collect();
    check_positions(&positions, options, what);
    assert_eq!(
        result.head.map(Position::get),
        positions.last().copied(),
        "{what}: the head of a read of everything is its last position"
    );
    let mut next_of: HashMap<u64, (u64, u64, u64)> = HashMap::new();
    for event in &events {
        let [writer, seq, k] = fields(event)[..] else {
            panic!("{what}: unexpected data {:?}", text(event));
        };
        let (expected_seq, expected_k, previous) =
            next_of.get(&writer).copied().unwrap_or((0, 0, 0));
        assert_eq!(
            (seq, k),
            (expected_seq, expected_k),
            "{what}: writer {writer}'s events must appear whole and in order; at {} found \
             append {seq} event {k}",
            event.position
        );
        if k > 0 {
            assert_eq!(
                event.position.get(),
                previous + 1,
                "{what}: the events of one append are consecutive"
            );
        }
        let next = if k + 1 == BATCH {
            (seq + 1, 0)
        } else {
            (seq, k + 1)
        };
        next_of.insert(writer, (next.0, next.1, event.position.get()));
    }
    for (writer, (_, k, _)) in next_of {
        assert_eq!(
            k, 0,
            "{what}: writer {writer}'s last append is only partly visible"
        );
    }
    ReadResult {
        events,
        head: result.head,
    }
}

/// Readers running while writers append see consistent prefixes: whole
/// appends, each writer's appends in order, no gaps when positions are
/// gap-free, and each read extends the reader's previous one.
pub async fn concurrent_readers_see_consistent_prefixes<S: EventStore + 'static>(
    store: S,
    options: &Options,
) {
    let store = Arc::new(store);
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let own_tag = format!("writer:{writer}");
                for seq in 0..BATCHES {
                    let events = (0..BATCH)
                        .map(|k| ev_data("Written", &[&own_tag], format!("{writer}:{seq}:{k}")))
                        .collect();
                    append(&*store, events).await;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..READERS)
        .map(|reader| {
            let store = Arc::clone(&store);
            let done = Arc::clone(&done);
            let options = options.clone();
            tokio::spawn(async move {
                let mut previous = ReadResult::default();
                let mut reads = 0_usize;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let backwards = (reader + reads) % 3 == 2;
                    let result = match (reader + reads) % 3 {
                        0 => stream_all(&*store, &Query::all(), ReadOptions::new()).await,
                        1 => read_in_task(&*store, &Query::all()).await,
                        _ => match store
                            .read_to_end(&Query::all(), ReadOptions::new().backwards())
                            .await
                        {
                            Ok(result) => result,
                            Err(e) => panic!("a concurrent backwards read failed: {e:?}"),
                        },
                    };
                    let what = format!("reader {reader}, read {reads} (backwards: {backwards})");
                    let current = check_prefix(result, backwards, &options, &what);
                    assert!(
                        current.events.len() >= previous.events.len()
                            && current.events[..previous.events.len()] == previous.events[..],
                        "{what}: a read must extend the same reader's previous read, which \
                         had {} events up to {:?}; this one has {} up to {:?}",
                        previous.events.len(),
                        previous.head,
                        current.events.len(),
                        current.head
                    );
                    previous = current;
                    reads += 1;
                    if finished {
                        return previous.events.len();
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for writer in writers {
        join(writer).await;
    }
    done.store(true, Ordering::Release);
    let total = usize::try_from(WRITERS * BATCHES * BATCH).unwrap_or(usize::MAX);
    for (reader, handle) in readers.into_iter().enumerate() {
        assert_eq!(
            join(handle).await,
            total,
            "reader {reader}'s read after all appends returned sees every event"
        );
    }
}

/// How many students fit in the course of the capacity case.
const PLACES: usize = 5;

/// Tasks that each try to join a course of five places, re-reading and
/// retrying when their condition fails: exactly five join.
pub async fn capacity_holds_under_contention<S: EventStore + 'static>(store: S) {
    let store = Arc::new(store);
    let course = tagged(&["course:full"]);
    append(
        &*store,
        vec![ev_data("CourseRegistered", &["course:full"], "5")],
    )
    .await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            let course = course.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                for _attempt in 0..10_000 {
                    let seen = read_in_task(&*store, &course).await;
                    let joined = seen
                        .events
                        .iter()
                        .filter(|e| e.event_type() == "StudentJoined")
                        .count();
                    if joined >= PLACES {
                        return false;
                    }
                    let student = format!("student:{task}");
                    let event = ev_data("StudentJoined", &["course:full", &student], "");
                    let condition = condition(&course, seen.head.map(Position::get));
                    match store.append(vec![event], Some(condition)).await {
                        Ok(_) => return true,
                        Err(AppendError::ConditionFailed { .. }) => tokio::task::yield_now().await,
                        Err(e) => panic!("task {task}: a decision to join failed with {e:?}"),
                    }
                }
                panic!("task {task} neither joined nor saw the course full in 10 000 attempts");
            })
        })
        .collect();
    let mut joined = 0;
    for task in tasks {
        if join(task).await {
            joined += 1;
        }
    }
    assert_eq!(
        joined, PLACES,
        "exactly {PLACES} of {TASKS} students get a place"
    );
    let stored = read(&*store, &course, ReadOptions::new()).await;
    let joins = stored
        .events
        .iter()
        .filter(|e| e.event_type() == "StudentJoined")
        .count();
    assert_eq!(joins, PLACES, "exactly {PLACES} join events are stored");
    let one_more = append_if(
        &*store,
        vec![ev_data("CourseRenamed", &["course:full"], "")],
        condition(&course, stored.head.map(Position::get)),
    )
    .await;
    assert!(
        stored.head < Some(one_more),
        "a decision made from the final state still wins"
    );
}
