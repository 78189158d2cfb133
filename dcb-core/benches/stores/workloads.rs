//! Store-independent workloads: each is generic over [`EventStore`] and
//! times only the store's calls, not the making of events.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use dcb_core::{
    AppendCondition, EventRecord, EventStore, EventType, Metadata, Query, QueryItem, ReadOptions,
    Tag,
};

use crate::report::Latencies;

pub const COURSE_REGISTERED: EventType = EventType::from_static("CourseRegistered");
pub const STUDENT_REGISTERED: EventType = EventType::from_static("StudentRegistered");
pub const STUDENT_JOINED: EventType = EventType::from_static("StudentJoinedCourse");
pub const STUDENT_LEFT: EventType = EventType::from_static("StudentLeftCourse");

/// Events per course tag in a filled store: a decision about one course
/// reads this many course events.
pub const EVENTS_PER_COURSE: u64 = 10;

pub const DATA: &[u8] = br#"{"student_id":"0b9f1c52-0f4e-4a9a-9f64-4f1e6f0f3a11","at":1732741200}"#;

/// The metadata the appending workloads put on each event (`--metadata
/// N`); none unless set.
static METADATA: OnceLock<Metadata> = OnceLock::new();

/// Puts `entries` metadata entries on every appended event: a correlation
/// id, a causation, a user, then more short entries — what a service
/// typically records.
pub fn set_metadata(entries: usize) {
    let typical = [
        (
            Metadata::CORRELATION.to_owned(),
            "5f0c8a5e-3b7d-4f43-9a51-0c1f2e3d4b5a".to_owned(),
        ),
        (Metadata::CAUSATION.to_owned(), "1234567".to_owned()),
        ("user".to_owned(), "ada@example.com".to_owned()),
    ];
    let extra = (typical.len()..entries).map(|i| (format!("key{i}"), format!("value {i}")));
    let metadata: Metadata = typical.into_iter().take(entries).chain(extra).collect();
    let _ = METADATA.set(metadata);
}

/// How many metadata entries each appended event carries.
pub fn metadata_entries() -> usize {
    METADATA.get().map_or(0, Metadata::len)
}

/// `event` with the workloads' metadata, if any.
fn stamped(event: EventRecord) -> EventRecord {
    match METADATA.get() {
        Some(metadata) => event.with_metadata(metadata.clone()),
        None => event,
    }
}

pub fn tag(prefix: &str, n: u64) -> Tag {
    Tag::new(format!("{prefix}:{n:016x}")).expect("generated tags are valid")
}

/// The `i`-th event of a filled store: one of the course's events, tagged
/// with its course and a student of its own.
fn filler_event(i: u64, courses: u64) -> EventRecord {
    let event_type = match i % 3 {
        0 => COURSE_REGISTERED,
        1 => STUDENT_JOINED,
        _ => STUDENT_LEFT,
    };
    EventRecord::new(event_type, DATA).with_tags([tag("course", i % courses), tag("student", i)])
}

/// The number of course tags a store of `stored` events is spread over.
pub fn courses_for(stored: u64) -> u64 {
    (stored / EVENTS_PER_COURSE).max(1)
}

/// Appends `n` events in batches, spread over `courses_for(n)` courses.
pub async fn fill<S: EventStore>(store: &S, n: u64, progress: impl Fn(u64)) {
    fill_range(store, 0, n, n, 100_000, progress).await;
}

/// Appends the events `from..to` of a store of `total` events (spread over
/// `courses_for(total)` courses) in batches of 1,000: a fill that stopped
/// after `from` events resumes where it stopped. Calls `progress` each
/// time another `every` events are in.
pub async fn fill_range<S: EventStore>(
    store: &S,
    from: u64,
    to: u64,
    total: u64,
    every: u64,
    progress: impl Fn(u64),
) {
    const BATCH: u64 = 1_000;
    let courses = courses_for(total);
    let every = every.max(1);
    let mut i = from;
    while i < to {
        let end = (i + BATCH).min(to);
        let events = (i..end).map(|i| filler_event(i, courses)).collect();
        store.append(events, None).await.expect("filling the store");
        if end / every != i / every {
            progress(end);
        }
        i = end;
    }
}

/// Tags at and above this (in their number) are the tail's and the large
/// store's appends: above every filled course and student, so reads of the
/// filled courses never meet them.
pub const APPENDED_TAGS: u64 = 0x80 << 56;

/// The `i`-th event a process appends after the fill (`open_after_kill`):
/// decision-shaped like the filled ones (two tags, the same data), on
/// courses and students of its own.
pub fn tail_event(i: u64) -> EventRecord {
    EventRecord::new(STUDENT_JOINED, DATA).with_tags([
        tag("course", APPENDED_TAGS | (i / EVENTS_PER_COURSE)),
        tag("student", APPENDED_TAGS | i),
    ])
}

/// The query of a "student joins course" decision: the course's events and
/// the student's.
pub fn decision_query(course: u64, student: u64) -> Query {
    Query::from(
        QueryItem::new()
            .types([COURSE_REGISTERED, STUDENT_JOINED, STUDENT_LEFT])
            .tags([tag("course", course)]),
    )
    .or(QueryItem::new()
        .types([STUDENT_REGISTERED, STUDENT_JOINED, STUDENT_LEFT])
        .tags([tag("student", student)]))
}

/// The student of a decision read about `course`: the one whose own event
/// is the course's sixth, so the read's two items share that event.
pub fn student_of(course: u64, courses: u64) -> u64 {
    course + EVENTS_PER_COURSE / 2 * courses
}

/// A small deterministic generator, so runs are comparable.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// `n` conditional appends of one event with two tags, each under a
/// one-item condition on the event's course after the store's head, from
/// one client. Returns the latencies and the total time spent in appends.
///
/// Each event and condition is made just before its append, as a decision
/// makes them, and only the append is timed.
pub async fn conditional_appends<S: EventStore>(
    store: &S,
    n: u64,
    first_student: u64,
    courses: u64,
    seed: u64,
) -> (Latencies, Duration) {
    let mut rng = Rng::new(seed);
    let mut latencies = Latencies::with_capacity(usize::try_from(n).unwrap_or(0));
    let mut total = Duration::ZERO;
    let mut head = store.head().await.expect("head");
    for k in 0..n {
        let course = tag("course", rng.below(courses));
        let event = stamped(
            EventRecord::new(STUDENT_JOINED, DATA)
                .with_tags([course.clone(), tag("student", first_student + k)]),
        );
        let query = Query::from(QueryItem::new().types([STUDENT_JOINED]).tags([course]));
        let condition = AppendCondition::new(query).after(head);
        let start = Instant::now();
        let position = store
            .append(vec![event], Some(condition))
            .await
            .expect("a conditional append on a fresh boundary succeeds");
        let elapsed = start.elapsed();
        head = Some(position);
        latencies.push(elapsed);
        total += elapsed;
    }
    (latencies, total)
}

/// Conditional appends from `clients` tasks at once, each on boundaries of
/// its own. Returns the latencies and the wall-clock time.
pub async fn concurrent_conditional_appends<S: EventStore + 'static>(
    store: Arc<S>,
    clients: u64,
    per_client: u64,
    courses: u64,
) -> (Latencies, Duration) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                // Client `c` uses courses `c, c + clients, …` and its own students,
                // so the clients never conflict.
                let mut rng = Rng::new(c + 1);
                let mut latencies =
                    Latencies::with_capacity(usize::try_from(per_client).unwrap_or(0));
                for k in 0..per_client {
                    let course = tag("course", (rng.below(courses / clients) * clients) + c);
                    let event = stamped(EventRecord::new(STUDENT_JOINED, DATA).with_tags([
                        course.clone(),
                        tag("student", (1 << 40) + c * per_client + k),
                    ]));
                    let query =
                        Query::from(QueryItem::new().types([STUDENT_JOINED]).tags([course]));
                    let t = Instant::now();
                    let seen = store
                        .read_to_end(&query, ReadOptions::new().backwards().limit(1))
                        .await
                        .expect("read");
                    let head = seen.events.first().map(|e| e.position);
                    store
                        .append(vec![event], Some(AppendCondition::new(query).after(head)))
                        .await
                        .expect("clients on disjoint boundaries never conflict");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Latencies::default();
    for task in tasks {
        all.extend(task.await.expect("client task"));
    }
    (all, start.elapsed())
}

/// `n` reads of a "student joins course" decision's events (about
/// [`EVENTS_PER_COURSE`] matches each) on random courses of a filled store.
/// Returns the latencies, the total time, and the mean number of events read.
///
/// Each query is made just before its read, as a decision makes it, and
/// only the read (to the end of its stream) is timed.
pub async fn decision_reads<S: EventStore>(
    store: &S,
    n: u64,
    stored: u64,
    seed: u64,
) -> (Latencies, Duration, f64) {
    let courses = courses_for(stored);
    let mut rng = Rng::new(seed);
    let mut latencies = Latencies::with_capacity(usize::try_from(n).unwrap_or(0));
    let mut total = Duration::ZERO;
    let mut events = 0u64;
    for _ in 0..n {
        let course = rng.below(courses);
        let query = decision_query(course, student_of(course, courses));
        let start = Instant::now();
        let result = store
            .read_to_end(&query, ReadOptions::new())
            .await
            .expect("read");
        let elapsed = start.elapsed();
        events += result.events.len() as u64;
        drop(result);
        latencies.push(elapsed);
        total += elapsed;
    }
    #[allow(clippy::cast_precision_loss)]
    let mean = events as f64 / n as f64;
    (latencies, total, mean)
}

/// Conditional appends of `events_per_append` events (two tags each) under
/// a one-item condition, from `clients` tasks on boundaries of their own,
/// for `duration`. `run` (in the top byte) keeps the boundaries of separate
/// runs on one store apart. Returns the latencies, the appends made and the
/// wall-clock time.
pub async fn appends_for<S: EventStore + 'static>(
    store: &Arc<S>,
    run: u64,
    clients: u64,
    events_per_append: u64,
    duration: Duration,
) -> (Latencies, u64, Duration) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                let mut latencies = Latencies::default();
                let mut head = store.head().await.expect("head");
                let mut k = 0u64;
                while start.elapsed() < duration {
                    let course = tag("course", run | (client << 32) | k);
                    let events = (0..events_per_append)
                        .map(|e| {
                            stamped(EventRecord::new(STUDENT_JOINED, DATA).with_tags([
                                course.clone(),
                                tag("student", run | (client << 40) | (k << 8) | e),
                            ]))
                        })
                        .collect();
                    let query =
                        Query::from(QueryItem::new().types([STUDENT_JOINED]).tags([course]));
                    let t = Instant::now();
                    let position = store
                        .append(events, Some(AppendCondition::new(query).after(head)))
                        .await
                        .expect("appends on fresh boundaries succeed");
                    latencies.push(t.elapsed());
                    head = Some(position);
                    k += 1;
                }
                (latencies, k)
            })
        })
        .collect();
    let mut all = Latencies::default();
    let mut appends = 0;
    for task in tasks {
        let (latencies, n) = task.await.expect("client");
        all.extend(latencies);
        appends += n;
    }
    (all, appends, start.elapsed())
}
