//! The PostgreSQL store's workloads (feature `postgres`), each against a
//! baseline measured in the same run on the same server, right before it:
//!
//! - `I_c`: plain single-row INSERT transactions per second into a plain
//!   table, from `c` clients on connections of their own;
//! - for decision reads, one prepared index-only-scan round trip on the
//!   store's `(tag, position)` index; beside it, the index-only scans of a
//!   decision's own positions and the head, which any layout needs, the
//!   decision's events by one hand-written statement on the store's layout,
//!   the same events from a copy of the tag index that carries them
//!   (index-only): the floor of any layout of tag index and events, and the
//!   store's own read function called directly, which parts the server's
//!   share of a read from the client's;
//! - for subscriptions (`subscribe`: [`SUBSCRIBERS`] tasks reading every
//!   event of one type in batches while [`WRITERS`] tasks append events of
//!   that type), `I_c` with as many clients as there are writers.
//!
//! Everything lives in a fresh schema, dropped at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dcb_core::EventType;
use dcb_core::postgres::{PostgresOptions, PostgresStore};

use crate::report::{Latencies, Measurement};
use crate::workloads::{
    COURSE_REGISTERED, DATA, EVENTS_PER_COURSE, Rng, STUDENT_JOINED, STUDENT_LEFT,
    STUDENT_REGISTERED, appends_for, courses_for, decision_reads, fill, student_of, tag,
};

/// The server benchmarked when `DCB_POSTGRES_URL` is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The pool's size: enough for the 32 clients and the baseline's.
const POOL_SIZE: usize = 40;

/// How long each timed workload runs.
pub struct Durations {
    pub baseline: Duration,
    pub workload: Duration,
    pub reads: u64,
    pub stored: u64,
    /// `PostgresOptions::append_batches`, if not the default.
    pub append_batches: Option<usize>,
}

/// Connects to a fresh schema, runs the workloads and drops the schema.
pub async fn run(
    url: &str,
    durations: &Durations,
    runs: impl Fn(&str) -> bool,
) -> Result<(), String> {
    let schema = format!(
        "dcb_bench_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    );
    let mut options = PostgresOptions::new(url)
        .schema(schema.clone())
        .pool_size(POOL_SIZE);
    if let Some(batches) = durations.append_batches {
        options = options.append_batches(batches);
    }
    let batches = options.append_batches;
    let store = PostgresStore::connect_with(options)
        .await
        .map_err(|e| format!("{e} (server: {url}; set DCB_POSTGRES_URL)"))?;
    eprintln!("(server {url}, schema {schema}, append batches in flight {batches})");
    let result = workloads(&store, durations, &runs).await;
    let dropped = sql(&store, &format!("DROP SCHEMA \"{schema}\" CASCADE")).await;
    result.and(dropped)
}

async fn workloads(
    store: &PostgresStore,
    durations: &Durations,
    runs: &impl Fn(&str) -> bool,
) -> Result<(), String> {
    let schema = store.schema().to_owned();
    sql(
        store,
        &format!(
            "CREATE TABLE \"{schema}\".baseline (id bigserial PRIMARY KEY, data bytea NOT NULL)"
        ),
    )
    .await?;
    let store = Arc::new(store.clone());
    if runs("conditional_append") {
        let mut one_client = None;
        for clients in [1, 8, 32] {
            let i_c = insert_rate(&store, clients, durations.baseline).await?;
            eprintln!("    (I_{clients} = {i_c:.0} single-row INSERT transactions per second)");
            let (mut latencies, appends, elapsed) =
                appends_for(&store, clients << 56, clients, 1, durations.workload).await;
            let ops = rate(appends, elapsed);
            let name = match clients {
                1 => "I_1",
                8 => "I_8",
                _ => "I_32",
            };
            let n = usize::try_from(clients).unwrap_or(0);
            measurement(
                "conditional_append",
                n,
                0,
                ops,
                &mut latencies,
                Some((name, i_c)),
            )
            .print();
            match one_client {
                None => one_client = Some(ops),
                Some(one) => eprintln!(
                    "    ({clients} clients: {:.2}x the 1-client rate)",
                    ops / one
                ),
            }
        }
    }
    if runs("read") {
        reads(&store, durations).await?;
    }
    if runs("subscribe") {
        let i_c = insert_rate(&store, WRITERS, durations.baseline).await?;
        eprintln!("    (I_{WRITERS} = {i_c:.0} single-row INSERT transactions per second)");
        subscribe(&store, durations.workload, i_c).await;
    }
    Ok(())
}

/// The tasks appending in `subscribe`, and the name of their baseline.
const WRITERS: u64 = 16;
const WRITERS_BASELINE: &str = "I_16";

/// The tasks reading in `subscribe`, each as a subscription does.
const SUBSCRIBERS: u64 = 32;

/// The type of the events `subscribe` appends and reads.
const NOTED: EventType = EventType::from_static("Noted");

/// [`WRITERS`] tasks append one event of type [`NOTED`] each, without a
/// condition, while [`SUBSCRIBERS`] tasks read every event of that type in
/// batches of at most 100, each after the last event it read, as a
/// subscription catching up does, for `duration`: the appends per second
/// against `I_c` (`i_c`), and the batches per second. Many readers of one
/// boundary in one process share its lock in rounds
/// (docs/decisions/0036-boundary-reads-in-rounds.md); taking it one by one,
/// they would hold back the appends.
async fn subscribe(store: &Arc<PostgresStore>, duration: Duration, i_c: f64) {
    use dcb_core::{EventRecord, EventStore, Query, QueryItem, ReadOptions};

    let end = Instant::now() + duration;
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                let (mut latencies, mut n) = (Latencies::with_capacity(8_192), 0_u64);
                while Instant::now() < end {
                    let event = EventRecord::new(NOTED, DATA).with_tags([tag("writer", w)]);
                    let t = Instant::now();
                    store.append(vec![event], None).await.expect("an append");
                    latencies.push(t.elapsed());
                    n += 1;
                }
                (latencies, n)
            })
        })
        .collect();
    let readers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                let query = Query::from(QueryItem::new().types([NOTED]));
                let (mut latencies, mut n) = (Latencies::with_capacity(8_192), 0_u64);
                let mut last = None;
                while Instant::now() < end {
                    let t = Instant::now();
                    let batch = store
                        .read_to_end(&query, ReadOptions::new().after(last).limit(100))
                        .await
                        .expect("a batch");
                    latencies.push(t.elapsed());
                    n += 1;
                    if let Some(event) = batch.events.last() {
                        last = Some(event.position);
                    }
                }
                (latencies, n)
            })
        })
        .collect();
    let (mut appends, mut appended) = (Latencies::with_capacity(8_192), 0);
    for writer in writers {
        let (latencies, n) = writer.await.expect("a writer");
        appends.extend(latencies);
        appended += n;
    }
    let (mut batches, mut read) = (Latencies::with_capacity(8_192), 0);
    for reader in readers {
        let (latencies, n) = reader.await.expect("a reader");
        batches.extend(latencies);
        read += n;
    }
    let elapsed = started.elapsed();
    measurement(
        "subscribe_appends",
        usize::try_from(WRITERS).unwrap_or(0),
        0,
        rate(appended, elapsed),
        &mut appends,
        Some((WRITERS_BASELINE, i_c)),
    )
    .print();
    measurement(
        "subscribe_batches",
        usize::try_from(SUBSCRIBERS).unwrap_or(0),
        0,
        rate(read, elapsed),
        &mut batches,
        None,
    )
    .print();
}

/// The index scans timed beside a decision's read, each with its name in
/// the report and the seed of its first round; the first is the baseline.
const SCANS: [(Scan, &str, u64); 5] = [
    (Scan::OneTag, "index_scan", 20),
    (Scan::DecisionPositions, "read_positions", 40),
    (Scan::DecisionEvents, "read_by_hand", 50),
    (Scan::CoveringEvents, "read_covering", 60),
    (Scan::ReadFunction, "read_function", 70),
];

/// Decision reads on a store of `durations.stored` events against one
/// prepared index-only-scan round trip, alternating in rounds.
async fn reads(store: &Arc<PostgresStore>, durations: &Durations) -> Result<(), String> {
    let stored = durations.stored;
    prepare_reads(store.as_ref(), stored).await?;
    // Warm every path, then alternate them in rounds so that all meet the
    // same server.
    for (scan, _, seed) in SCANS {
        let _ = index_scans(store, scan, 200, stored, seed + 90).await?;
    }
    let _ = decision_reads(store.as_ref(), 200, stored, 98).await;
    let mut scans: [Timed; SCANS.len()] = Default::default();
    let mut reads = Timed::default();
    let mut events = 0.0;
    let per_round = (durations.reads / 4).max(1);
    for round in 0..4 {
        for ((scan, _, seed), timed) in SCANS.into_iter().zip(&mut scans) {
            timed.add(index_scans(store, scan, per_round, stored, seed + round).await?);
        }
        let (lat, total, mean) =
            decision_reads(store.as_ref(), per_round, stored, 30 + round).await;
        reads.add((lat, total));
        events += mean / 4.0;
    }
    let n = per_round * 4;
    let [scan, floor, hand, covering, function] =
        scans.each_ref().map(|timed| rate(n, timed.total));
    let read = rate(n, reads.total);
    let [baseline, others @ ..] = &mut scans;
    measurement(SCANS[0].1, 1, stored, scan, &mut baseline.latencies, None).print();
    for ((name, ops), timed) in SCANS[1..]
        .iter()
        .map(|&(_, name, _)| name)
        .chain(["read"])
        .zip([floor, hand, covering, function, read])
        .zip(others.iter_mut().chain([&mut reads]))
    {
        measurement(
            name,
            1,
            stored,
            ops,
            &mut timed.latencies,
            Some((SCANS[0].1, scan)),
        )
        .print();
    }
    eprintln!(
        "    (a decision read returns {events:.1} events on average; mean latency {:.1} µs \
         against {:.1} µs for one prepared index-only-scan round trip: {:.2}x, target ≤ 1.2x;\n     \
         its positions and the head alone, index-only, without the events or the read \
         barrier: {:.1} µs, {:.2}x;\n     \
         the same events by one hand-written statement, without the head or the read \
         barrier: {:.1} µs, {:.2}x, so the store's read costs {:.2}x that;\n     \
         the same events from a tag index that carries them, index-only, without the \
         head or the read barrier: {:.1} µs, {:.2}x;\n     \
         the store's read function called directly, its rows not decoded, without the \
         pool: {:.1} µs, {:.2}x the hand-written statement, so the client's share of the \
         store's read is {:.1} µs)",
        1e6 / read,
        1e6 / scan,
        scan / read,
        1e6 / floor,
        scan / floor,
        1e6 / hand,
        scan / hand,
        hand / read,
        1e6 / covering,
        scan / covering,
        1e6 / function,
        hand / function,
        1e6 / read - 1e6 / function,
    );
    Ok(())
}

/// Fills the store with `stored` events, analyses it, and copies its
/// events into [`covering_copy`].
async fn prepare_reads(store: &PostgresStore, stored: u64) -> Result<(), String> {
    let schema = store.schema();
    let start = Instant::now();
    fill(store, stored, |n| eprintln!("    (filled {n} events)")).await;
    for table in ["events", "event_tags"] {
        sql(store, &format!("VACUUM ANALYZE \"{schema}\".{table}")).await?;
    }
    eprintln!(
        "(filled {stored} events in {:.1} s, then VACUUM ANALYZE)",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    covering_copy(store).await?;
    eprintln!(
        "(copied the events into a covering tag index in {:.1} s)",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs one statement on a pooled connection.
async fn sql(store: &PostgresStore, statement: &str) -> Result<(), String> {
    let client = store.pool().get().await.map_err(|e| e.to_string())?;
    client
        .batch_execute(statement)
        .await
        .map_err(|e| match e.as_db_error() {
            Some(db) => format!("{statement}: {}", db.message()),
            None => format!("{statement}: {e}"),
        })
}

/// Copies every tagged event into `covering`: one row per (tag, event)
/// with the whole event, under a primary key on `(tag, position)` that
/// includes the rest, so that a tag's events are read index-only. The
/// store does not keep this layout (it doubles the stored bytes): it
/// measures the floor of any layout of tag index and events.
async fn covering_copy(store: &PostgresStore) -> Result<(), String> {
    let schema = store.schema();
    sql(
        store,
        &format!(
            "CREATE TABLE \"{schema}\".covering AS \
             SELECT t.tag, e.position, e.event_type, e.data, e.tags, e.id \
             FROM \"{schema}\".events e, unnest(e.tags) AS t (tag); \
             ALTER TABLE \"{schema}\".covering ADD PRIMARY KEY (tag, position) \
             INCLUDE (event_type, data, tags, id)"
        ),
    )
    .await?;
    sql(store, &format!("VACUUM ANALYZE \"{schema}\".covering")).await
}

/// The latencies and the total time of one kind of read, over the rounds.
#[derive(Default)]
struct Timed {
    latencies: Latencies,
    total: Duration,
}

impl Timed {
    fn add(&mut self, (latencies, total): (Latencies, Duration)) {
        self.latencies.extend(latencies);
        self.total += total;
    }
}

#[allow(clippy::cast_precision_loss)]
fn rate(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

/// `I_c`: single-row INSERT transactions (autocommit, prepared) per second
/// into the plain table `baseline`, from `clients` connections at once.
async fn insert_rate(
    store: &Arc<PostgresStore>,
    clients: u64,
    duration: Duration,
) -> Result<f64, String> {
    let statement = format!(
        "INSERT INTO \"{}\".baseline (data) VALUES ($1)",
        store.schema()
    );
    // Every client holds its connection before the clock starts.
    let mut connections = Vec::new();
    for _ in 0..clients {
        let client = store.pool().get().await.map_err(|e| e.to_string())?;
        let prepared = client
            .prepare_cached(&statement)
            .await
            .map_err(|e| e.to_string())?;
        connections.push((client, prepared));
    }
    let start = Instant::now();
    let tasks: Vec<_> = connections
        .into_iter()
        .map(|(client, prepared)| {
            tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed() < duration {
                    client
                        .execute(&prepared, &[&DATA])
                        .await
                        .expect("baseline insert");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut inserts = 0;
    for task in tasks {
        inserts += task.await.map_err(|e| e.to_string())?;
    }
    Ok(rate(inserts, start.elapsed()))
}

/// The first of the three lock keys of [`Scan::ReadFunction`] (it and the
/// next two): not the store's (which the store keeps to itself), but as
/// uncontended, since nothing appends while the reads are timed.
const READ_FUNCTION_BARRIER: i64 = 0x6463_625f_6265_6e63;

/// What an index-only-scan round trip looks up.
#[derive(Clone, Copy)]
enum Scan {
    /// The baseline: one course tag's positions (about
    /// [`EVENTS_PER_COURSE`] rows).
    OneTag,
    /// The positions a decision's read selects — the course's and the
    /// student's, their types checked in the index — and the head: what
    /// any layout has to look up, without the events themselves and
    /// without the read barrier.
    DecisionPositions,
    /// The events a decision's read returns, by the best single statement
    /// written by hand on the store's layout: the positions as above, then
    /// the events by primary key in position order — without the head and
    /// without the read barrier.
    DecisionEvents,
    /// The same events from [`covering_copy`], index-only: one range scan
    /// of each tag, its rows carrying the events — without the head, the
    /// read barrier, or dropping the events both ranges hold.
    CoveringEvents,
    /// The store's decision read, `dcb_decision_read_by_first_tags`
    /// (locks, head and events), called directly on a held connection
    /// with three keys of its own (a global key shared, the course's and
    /// the student's exclusively, as the store locks a decision's
    /// boundary), its rows collected but not decoded: the server's and the
    /// protocol's share of the store's read, without the pool, the decoding
    /// of events, or the store's API.
    ReadFunction,
}

impl Scan {
    fn statement(self, schema: &str) -> String {
        match self {
            Scan::OneTag => format!(
                "SELECT position FROM \"{schema}\".event_tags \
                 WHERE tag = $1 AND position > $2 ORDER BY position"
            ),
            Scan::DecisionPositions => format!(
                "SELECT (SELECT max(x.position) FROM \"{schema}\".events x) \
                 UNION ALL (SELECT position FROM \"{schema}\".event_tags \
                 WHERE tag = $1 AND position > $2 AND event_type = ANY ($3)) \
                 UNION ALL (SELECT position FROM \"{schema}\".event_tags \
                 WHERE tag = $4 AND position > $2 AND event_type = ANY ($5))"
            ),
            Scan::DecisionEvents => format!(
                "SELECT e.position, e.event_type, e.data, e.tags, e.id \
                 FROM \"{schema}\".events e WHERE e.position = ANY (ARRAY(\
                 SELECT position FROM \"{schema}\".event_tags \
                 WHERE tag = $1 AND position > $2 AND event_type = ANY ($3) \
                 UNION ALL SELECT position FROM \"{schema}\".event_tags \
                 WHERE tag = $4 AND position > $2 AND event_type = ANY ($5))) \
                 ORDER BY e.position"
            ),
            Scan::ReadFunction => format!(
                "SELECT pos, event_type, data, tags, id, recorded_at, metadata \
                 FROM \"{schema}\".dcb_decision_read_by_first_tags($1, $2, $3, $4, $5, $6, \
                 NULL, $7, $8)"
            ),
            Scan::CoveringEvents => format!(
                "SELECT position, event_type, data, tags, id FROM \"{schema}\".covering \
                 WHERE tag = $1 AND position > $2 AND event_type = ANY ($3) \
                 UNION ALL SELECT position, event_type, data, tags, id FROM \"{schema}\".covering \
                 WHERE tag = $4 AND position > $2 AND event_type = ANY ($5)"
            ),
        }
    }
}

/// `n` round trips of one prepared index-only scan of `scan`, on random
/// courses (and their students, as [`decision_reads`] picks them).
async fn index_scans(
    store: &Arc<PostgresStore>,
    scan: Scan,
    n: u64,
    stored: u64,
    seed: u64,
) -> Result<(Latencies, Duration), String> {
    let client = store.pool().get().await.map_err(|e| e.to_string())?;
    let statement = client
        .prepare_cached(&scan.statement(store.schema()))
        .await
        .map_err(|e| e.to_string())?;
    let course_types = [COURSE_REGISTERED, STUDENT_JOINED, STUDENT_LEFT];
    let course_types = course_types.each_ref().map(EventType::as_str);
    let student_types = [STUDENT_REGISTERED, STUDENT_JOINED, STUDENT_LEFT];
    let student_types = student_types.each_ref().map(EventType::as_str);
    let courses = courses_for(stored);
    let mut rng = Rng::new(seed);
    let mut latencies = Latencies::with_capacity(usize::try_from(n).unwrap_or(0));
    let mut total = Duration::ZERO;
    for _ in 0..n {
        let course_number = rng.below(courses);
        let course = tag("course", course_number);
        let student = tag("student", student_of(course_number, courses));
        let t = Instant::now();
        let rows = match scan {
            Scan::OneTag => client.query(&statement, &[&course.as_str(), &0_i64]).await,
            Scan::ReadFunction => {
                // The function's parameters, made as the store makes them
                // (`FirstTags`): each item's first tag, and its types as
                // `tag || chr(31) || type` pairs.
                let tags = [course.as_str(), student.as_str()];
                let pairs: Vec<String> = course_types
                    .iter()
                    .map(|t| format!("{course}\u{1f}{t}"))
                    .chain(student_types.iter().map(|t| format!("{student}\u{1f}{t}")))
                    .collect();
                let untyped: [&str; 0] = [];
                let locks = [
                    READ_FUNCTION_BARRIER,
                    READ_FUNCTION_BARRIER + 1,
                    READ_FUNCTION_BARRIER + 2,
                ];
                client
                    .query(
                        &statement,
                        &[
                            &READ_FUNCTION_BARRIER,
                            &&tags[..],
                            &pairs,
                            &&untyped[..],
                            &0_i64,
                            &false,
                            &&locks[..],
                            &&[false, true, true][..],
                        ],
                    )
                    .await
            }
            Scan::DecisionPositions | Scan::DecisionEvents | Scan::CoveringEvents => {
                client
                    .query(
                        &statement,
                        &[
                            &course.as_str(),
                            &0_i64,
                            &&course_types[..],
                            &student.as_str(),
                            &&student_types[..],
                        ],
                    )
                    .await
            }
        }
        .map_err(|e| e.to_string())?;
        let elapsed = t.elapsed();
        debug_assert!(rows.len() as u64 <= EVENTS_PER_COURSE + 2);
        latencies.push(elapsed);
        total += elapsed;
    }
    Ok((latencies, total))
}

fn measurement(
    workload: &'static str,
    clients: usize,
    stored_events: u64,
    ops_per_sec: f64,
    latencies: &mut Latencies,
    baseline: Option<(&'static str, f64)>,
) -> Measurement {
    Measurement {
        store: "postgres",
        workload,
        clients,
        events_per_append: 1,
        stored_events,
        ops_per_sec,
        p50_us: latencies.percentile_us(50.0),
        p99_us: latencies.percentile_us(99.0),
        baseline,
    }
}
