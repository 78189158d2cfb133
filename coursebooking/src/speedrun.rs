//! `coursebooking speedrun`: docs/spec.md §4. Each iteration registers 10 courses
//! (10 places) and 10 students (10 courses each), then every student joins
//! every course: 120 operations, each a full decision.
//!
//! `--clients N` runs N clients at once, each a task on the multi-thread
//! runtime, all sharing one store, each deciding through the same
//! [`DcbEnrolment`] as a single client:
//!
//! - *disjoint*: each client runs iterations of its own.
//! - *contended*: all clients join the same 10 courses at a time (see
//!   [`contended`]), so decisions conflict and are retried; afterwards the
//!   store is read back and its invariants checked ([`invariants`]).
//!
//! Every run first warms up for [`WARM_UP`], then measures for `--seconds`.
//! The baselines run in the same arrangement as the workload: `I_c` from
//! `c` = clients tasks on the same runtime, `F` inside the runtime too.

mod invariants;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use coursebooking::decisions::DcbEnrolment;
use coursebooking::{CourseId, Enrolment, EnrolmentError, StudentId};
use dcb_core::embedded::EmbeddedStore;
#[cfg(feature = "postgres")]
use dcb_core::postgres::{PostgresOptions, PostgresStore};
use dcb_core::{
    AppendCondition, AppendError, EventRecord, EventStore, InMemoryStore, KnownState, KnownStats,
    Metadata, Position, Query, ReadError, ReadOptions, ReadResult,
};
use indicatif::{ProgressBar, ProgressStyle};

use self::invariants::{Invariants, Join};
use super::StoreKind;
use crate::fill::{Room, fill};
use crate::out::{Stop, say};

/// How long every run goes before it measures, as peers' harnesses do:
/// caches, connections and the allocator settle first.
pub const WARM_UP: Duration = Duration::from_secs(1);

/// How much a run's known state keeps (an estimate, see [`KnownState`]):
/// far more than a run's courses and students need, so nothing is evicted.
const KNOWN_STATE_BYTES: usize = 256 << 20;

/// The most clients `--clients` accepts.
pub const MAX_CLIENTS: usize = 1024;

/// In the contended variant, each course has this many places per client,
/// and each student may join this many of a round's 10 courses: half of
/// the joins tried, so both limits are reached under contention.
const CONTENDED_PLACES_PER_CLIENT: u32 = 5;
const CONTENDED_STUDENT_LIMIT: u32 = 5;

/// How long each baseline measures, before and after the workload.
const BASELINE: Duration = Duration::from_secs(2);

/// The server `--store postgres` uses when neither `--postgres-url` nor
/// `DCB_POSTGRES_URL` names one.
#[cfg(feature = "postgres")]
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How many clients share a store, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Each client on courses and students of its own.
    Disjoint,
    /// All clients on the same courses.
    Contended,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Disjoint => "disjoint",
            Variant::Contended => "contended",
        }
    }
}

/// What `coursebooking speedrun` was asked to do.
pub struct Settings {
    pub kind: StoreKind,
    pub duration: Duration,
    pub json: bool,
    pub prefill: u64,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub postgres_url: Option<String>,
    pub clients: usize,
    pub variants: Vec<Variant>,
    /// For each entry a run: without (`false`) and with (`true`) a known
    /// state shared by the clients.
    pub known_state: Vec<bool>,
}

/// What a run measured.
#[derive(Default)]
struct Outcome {
    clients: usize,
    variant: Option<Variant>,
    /// Operations completed in the measured window.
    operations: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    stored_events: u64,
    /// Appends of those operations refused by their condition: each a
    /// decision that lost a race.
    conflicts: u64,
    /// Of those, the ones retried with a fresh read.
    retries: u64,
    /// Decisions that lost every attempt (`conflicts - retries`).
    gave_up: u64,
    /// Joins the domain refused (fully booked, too many courses).
    refused: u64,
    /// Joins that succeeded in the measured window.
    joins: u64,
    /// The contended variant's check, read back from the store.
    invariants: Option<Invariants>,
    /// With a known state, what it did.
    known: Option<KnownStats>,
}

/// What the speedrun is compared with: a rate measured on the same disk or
/// server (`None` when it could not be measured).
#[derive(Clone)]
struct Baseline {
    name: String,
    rate: Option<f64>,
}

/// Runs each variant asked for on a fresh store and prints its report; a
/// contended run that broke an invariant is a failure (exit status 3),
/// after its report.
pub async fn run(settings: Settings) -> Result<(), Stop> {
    let runs = settings.variants.iter().flat_map(|&variant| {
        settings
            .known_state
            .iter()
            .map(move |&known| (variant, known))
    });
    for (variant, known) in runs {
        let variant = (variant, known);
        let text = match settings.kind {
            StoreKind::Memory => memory(&settings, variant).await?,
            StoreKind::Embedded => embedded(&settings, variant).await?,
            #[cfg(feature = "postgres")]
            StoreKind::Postgres => {
                let url = settings
                    .postgres_url
                    .clone()
                    .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned());
                postgres(&url, &settings, variant).await?
            }
            #[cfg(not(feature = "postgres"))]
            StoreKind::Postgres => {
                return Err(Stop::Failed(
                    "this coursebooking was built without PostgreSQL".to_owned(),
                ));
            }
        };
        say!("{}", text.0)?;
        if let Some(violations) = text.1.filter(|&n| n > 0) {
            return Err(Stop::Failed(format!(
                "the contended run broke {violations} invariant(s) (listed above): the store \
                 accepted a decision it should have refused, or lost or doubled an append; \
                 rerun with RUST_LOG=dcb_core=debug and report it"
            )));
        }
    }
    Ok(())
}

/// A report, and the number of invariant violations of a contended run.
type Report = (String, Option<usize>);

fn finish(store: &str, mut outcome: Outcome, baseline: Option<&Baseline>, json: bool) -> Report {
    let violations = outcome.invariants.as_ref().map(Invariants::violations);
    (report(store, &mut outcome, baseline, json), violations)
}

/// A run's variant, and whether its clients share a known state.
type Arrangement = (Variant, bool);

async fn memory(settings: &Settings, variant: Arrangement) -> Result<Report, String> {
    let store = Arc::new(InMemoryStore::new());
    prefill_store(&*store, settings.prefill).await?;
    let mut outcome = measure(
        store.clone(),
        settings.clients,
        variant,
        WARM_UP,
        settings.duration,
    )
    .await?;
    outcome.stored_events = store.len() as u64;
    Ok(finish("memory", outcome, None, settings.json))
}

async fn embedded(settings: &Settings, variant: Arrangement) -> Result<Report, String> {
    let dir =
        tempfile::tempdir().map_err(|err| format!("cannot make a temporary directory: {err}"))?;
    let path = dir.path().to_owned();
    let opened = tokio::task::spawn_blocking(move || EmbeddedStore::open(&path))
        .await
        .map_err(|err| format!("opening the store failed: {err}"))?;
    let store = Arc::new(opened.map_err(|err| err.to_string())?);
    prefill_store(&*store, settings.prefill).await?;
    let before = sync_rate(dir.path()).await;
    let result = measure(
        store.clone(),
        settings.clients,
        variant,
        WARM_UP,
        settings.duration,
    )
    .await;
    let after = sync_rate(dir.path()).await;
    let mut outcome = result?;
    outcome.stored_events = store.len() as u64;
    // F before and after the run, so that a drifting disk shows in
    // neither direction alone.
    let baseline = Baseline {
        name: "F".to_owned(),
        rate: before.zip(after).map(|(b, a)| f64::midpoint(b, a)),
    };
    Ok(finish("embedded", outcome, Some(&baseline), settings.json))
}

/// Fills `store` with `events` events of the speedrun's own shape first.
async fn prefill_store<S: EventStore>(store: &S, events: u64) -> Result<(), String> {
    fill(store, events, Room::FULL, &Metadata::new())
        .await
        .map(drop)
}

/// The speedrun on a fresh schema of the PostgreSQL store at `url`, against
/// `I_c` (single-row INSERT transactions per second from `c` = clients
/// tasks at once on the same server and runtime) measured before and after
/// it; returns the report. The schema is dropped at the end.
#[cfg(feature = "postgres")]
async fn postgres(url: &str, settings: &Settings, variant: Arrangement) -> Result<Report, String> {
    let clients = settings.clients;
    let schema = format!(
        "dcb_speedrun_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    // Every client and every baseline task can hold a connection at once.
    let options = PostgresOptions::new(url)
        .schema(schema.clone())
        .pool_size(clients.max(16));
    let store = match tokio::time::timeout(
        Duration::from_secs(15),
        PostgresStore::connect_with(options),
    )
    .await
    {
        Ok(Ok(store)) => Arc::new(store),
        Ok(Err(err)) => {
            return Err(format!(
                "{err} (server {url}; set --postgres-url or DCB_POSTGRES_URL)"
            ));
        }
        Err(_) => {
            return Err(format!(
                "cannot connect to PostgreSQL at {url} within 15 s \
                 (set --postgres-url or DCB_POSTGRES_URL)"
            ));
        }
    };
    let result = async {
        batch(
            &store,
            &format!(
                "CREATE TABLE \"{schema}\".baseline (id bigserial PRIMARY KEY, data bytea NOT NULL)"
            ),
        )
        .await?;
        prefill_store(&*store, settings.prefill).await?;
        let before = insert_rate(&store, clients, BASELINE).await?;
        let mut outcome =
            measure(store.clone(), clients, variant, WARM_UP, settings.duration).await?;
        let after = insert_rate(&store, clients, BASELINE).await?;
        outcome.stored_events = stored_events(&store).await?;
        // I_c before and after the run, so that a drifting server shows in
        // neither direction alone.
        let baseline = Baseline {
            name: format!("I_{clients}"),
            rate: before.zip(after).map(|(b, a)| f64::midpoint(b, a)),
        };
        Ok(finish("postgres", outcome, Some(&baseline), settings.json))
    }
    .await;
    let dropped = batch(&store, &format!("DROP SCHEMA \"{schema}\" CASCADE")).await;
    result.and_then(|report| dropped.map(|()| report))
}

/// A server error with its cause (the server's message, when it sent one).
#[cfg(feature = "postgres")]
fn pg_error(error: &dyn std::error::Error) -> String {
    let mut message = format!("PostgreSQL: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(message, ": {cause}");
        source = cause.source();
    }
    message
}

/// Runs `statements` on one pooled connection.
#[cfg(feature = "postgres")]
async fn batch(store: &PostgresStore, statements: &str) -> Result<(), String> {
    let client = store.pool().get().await.map_err(|e| e.to_string())?;
    client
        .batch_execute(statements)
        .await
        .map_err(|e| pg_error(&e))
}

/// The events stored in the store's schema.
#[cfg(feature = "postgres")]
async fn stored_events(store: &PostgresStore) -> Result<u64, String> {
    let client = store.pool().get().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            &format!("SELECT count(*) FROM \"{}\".events", store.schema()),
            &[],
        )
        .await
        .map_err(|e| pg_error(&e))?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// `I_c`: single-row INSERT transactions (autocommit, prepared) per second
/// into the plain table `baseline`, from `clients` tasks at once on this
/// runtime — as the workload's clients run — each with a connection of the
/// store's pool. All connect and prepare first, then insert until one
/// deadline.
#[cfg(feature = "postgres")]
async fn insert_rate(
    store: &Arc<PostgresStore>,
    clients: usize,
    duration: Duration,
) -> Result<Option<f64>, String> {
    let ready = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let start = Arc::new(std::sync::OnceLock::<Instant>::new());
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (store, ready, start) = (store.clone(), ready.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            let prepared = async {
                let client = store.pool().get().await.map_err(|e| e.to_string())?;
                let statement = client
                    .prepare_cached(&format!(
                        "INSERT INTO \"{}\".baseline (data) VALUES ($1)",
                        store.schema()
                    ))
                    .await
                    .map_err(|e| pg_error(&e))?;
                Ok::<_, String>((client, statement))
            }
            .await;
            // Wait for the others even after a failure, so that none waits
            // forever.
            ready.wait().await;
            let (client, statement) = prepared?;
            let start = *start.get().ok_or("the baseline did not start")?;
            let data: &[u8] = br#"{"student_id":"0b9f1c52-0f4e-4a9a-9f64-4f1e6f0f3a11"}"#;
            let mut n = 0u64;
            while start.elapsed() < duration {
                client
                    .execute(&statement, &[&data])
                    .await
                    .map_err(|e| pg_error(&e))?;
                n += 1;
            }
            Ok::<u64, String>(n)
        }));
    }
    let _ = start.set(Instant::now());
    ready.wait().await;
    let began = *start.get().unwrap_or(&Instant::now());
    let mut total = 0u64;
    for task in tasks {
        total += task
            .await
            .map_err(|err| format!("a baseline task failed: {err}"))??;
    }
    Ok(per_second(total, began.elapsed()))
}

/// A store that counts the appends refused by their condition: every one
/// is a decision that lost a race, retried or given up. Each client has
/// its own, over the one shared store.
struct Counted<S> {
    store: S,
    conflicts: AtomicU64,
}

impl<S> Counted<S> {
    fn new(store: S) -> Counted<S> {
        Counted {
            store,
            conflicts: AtomicU64::new(0),
        }
    }
}

impl<S: EventStore> EventStore for Counted<S> {
    type Stream = S::Stream;

    fn read(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<Self::Stream, ReadError>> + Send {
        self.store.read(query, options)
    }

    fn read_to_end(
        &self,
        query: &Query,
        options: ReadOptions,
    ) -> impl Future<Output = Result<ReadResult, ReadError>> + Send {
        self.store.read_to_end(query, options)
    }

    async fn append(
        &self,
        events: Vec<EventRecord>,
        condition: Option<AppendCondition>,
    ) -> Result<Position, AppendError> {
        let appended = self.store.append(events, condition).await;
        if let Err(AppendError::ConditionFailed { .. }) = appended {
            self.conflicts.fetch_add(1, Ordering::Relaxed);
        }
        appended
    }

    fn head(&self) -> impl Future<Output = Result<Option<Position>, ReadError>> + Send {
        self.store.head()
    }

    fn wait_for_append(
        &self,
        after: Option<Position>,
    ) -> impl Future<Output = Result<(), ReadError>> + Send {
        self.store.wait_for_append(after)
    }
}

/// What every client of a run shares: when to measure and stop, and
/// whether another client failed.
struct Shared {
    /// Operations that complete from here on are measured...
    from: Instant,
    /// ...until here, where the clients stop.
    until: Instant,
    /// Set when a client failed: the others stop too.
    abort: AtomicBool,
    /// Operations measured so far, for the progress bar.
    measured: AtomicU64,
    /// The contended variant's rounds of 10 courses.
    rounds: tokio::sync::Mutex<Vec<Arc<Vec<CourseId>>>>,
    clients: usize,
}

impl Shared {
    fn over(&self) -> bool {
        self.abort.load(Ordering::Relaxed) || Instant::now() >= self.until
    }
}

/// One client: its application over the shared store, and its record.
struct Client<S> {
    app: DcbEnrolment<Counted<Arc<S>>>,
    record: Record,
}

/// What one client counted.
struct Record {
    number: usize,
    shared: Arc<Shared>,
    tally: Outcome,
    /// The joins this client saw succeed, the warm-up's too (contended
    /// only).
    acknowledged: Vec<Join>,
    /// Whether the domain may refuse a join (contended): in the disjoint
    /// variant a refusal or a lost race means the store lost or mixed up
    /// events.
    refusals_expected: bool,
}

impl Record {
    /// Runs one operation and records it if it completed in the measured
    /// window: `Some` its value, `None` when the domain refused it or it
    /// lost every race (contended only; both counted). A store failure, or
    /// in the disjoint variant any refusal, ends the run.
    async fn op<T>(
        &mut self,
        conflicts: &AtomicU64,
        what: &str,
        operation: impl Future<Output = Result<T, EnrolmentError>>,
    ) -> Result<Option<T>, String> {
        let before = conflicts.load(Ordering::Relaxed);
        let start = Instant::now();
        let result = operation.await;
        let end = Instant::now();
        let lost = conflicts.load(Ordering::Relaxed) - before;
        let gave_up = u64::from(matches!(result, Err(EnrolmentError::Conflict { .. })));
        let refused = u64::from(matches!(&result, Err(err) if err.is_refusal()));
        if end >= self.shared.from && end < self.shared.until {
            self.tally.operations += 1;
            self.tally.latencies.push(end - start);
            self.tally.conflicts += lost;
            self.tally.retries += lost.saturating_sub(gave_up);
            self.tally.gave_up += gave_up;
            self.tally.refused += refused;
            if result.is_ok() && what == JOIN {
                self.tally.joins += 1;
            }
            self.shared.measured.fetch_add(1, Ordering::Relaxed);
        }
        match result {
            Ok(value) => Ok(Some(value)),
            Err(_) if self.refusals_expected && gave_up + refused > 0 => Ok(None),
            Err(err) if gave_up + refused > 0 => Err(format!(
                "client {}: {what} failed: {err}; in the disjoint variant nothing is refused \
                 and nothing conflicts, so the store lost or mixed up events",
                self.number
            )),
            Err(err) => Err(format!("client {}: {what} failed: {err}", self.number)),
        }
    }
}

/// What [`Record::op`] calls a join.
const JOIN: &str = "a join";

impl<S: EventStore> Client<S> {
    fn over(&self) -> bool {
        self.record.shared.over()
    }

    /// The disjoint variant: iterations of its own, as one client runs.
    async fn disjoint(&mut self) -> Result<(), String> {
        for iteration in 0u64.. {
            let mut courses = Vec::with_capacity(10);
            for c in 0..10 {
                if self.over() {
                    return Ok(());
                }
                let name = format!("Course {}-{iteration}-{c}", self.record.number);
                let registering = self.app.register_course(&name, 10);
                let conflicts = &self.app.store().conflicts;
                if let Some(id) = self
                    .record
                    .op(conflicts, "registering a course", registering)
                    .await?
                {
                    courses.push(id);
                }
            }
            let students = self.register_students(iteration, 10).await?;
            for &student in &students {
                for &course in &courses {
                    if self.over() {
                        return Ok(());
                    }
                    self.join(student, course).await?;
                }
            }
        }
        Ok(())
    }

    /// The contended variant: in each round, the 10 courses every client
    /// joins (registered by the first client to reach the round, with
    /// [`CONTENDED_PLACES_PER_CLIENT`] places per client), 10 students of
    /// its own (who may join [`CONTENDED_STUDENT_LIMIT`] courses), and each
    /// of its students tries every course, in the same order as every other
    /// client.
    async fn contended(&mut self) -> Result<(), String> {
        for round in 0u64.. {
            let Some(courses) = self.round_courses(round).await? else {
                return Ok(());
            };
            let students = self
                .register_students(round, CONTENDED_STUDENT_LIMIT)
                .await?;
            for &student in &students {
                for &course in courses.iter() {
                    if self.over() {
                        return Ok(());
                    }
                    self.join(student, course).await?;
                }
            }
        }
        Ok(())
    }

    /// The courses of `round`, registering them if this client is the
    /// first there; `None` when the run ended first.
    async fn round_courses(&mut self, round: u64) -> Result<Option<Arc<Vec<CourseId>>>, String> {
        let shared = self.record.shared.clone();
        let mut rounds = shared.rounds.lock().await;
        if let Some(courses) = usize::try_from(round).ok().and_then(|i| rounds.get(i)) {
            return Ok(Some(courses.clone()));
        }
        let places = u32::try_from(shared.clients)
            .unwrap_or(u32::MAX)
            .saturating_mul(CONTENDED_PLACES_PER_CLIENT);
        let mut courses = Vec::with_capacity(10);
        for c in 0..10 {
            if shared.over() {
                return Ok(None);
            }
            let name = format!("Course {round}-{c}");
            let registering = self.app.register_course(&name, places);
            let conflicts = &self.app.store().conflicts;
            if let Some(id) = self
                .record
                .op(conflicts, "registering a course", registering)
                .await?
            {
                courses.push(id);
            }
        }
        let courses = Arc::new(courses);
        rounds.push(courses.clone());
        Ok(Some(courses))
    }

    async fn register_students(
        &mut self,
        iteration: u64,
        max_courses: u32,
    ) -> Result<Vec<StudentId>, String> {
        let mut students = Vec::with_capacity(10);
        for s in 0..10 {
            if self.over() {
                break;
            }
            let name = format!("Student {}-{iteration}-{s}", self.record.number);
            let registering = self.app.register_student(&name, max_courses);
            let conflicts = &self.app.store().conflicts;
            if let Some(id) = self
                .record
                .op(conflicts, "registering a student", registering)
                .await?
            {
                students.push(id);
            }
        }
        Ok(students)
    }

    async fn join(&mut self, student: StudentId, course: CourseId) -> Result<(), String> {
        let joining = self.app.join_course(student, course);
        let conflicts = &self.app.store().conflicts;
        if self.record.op(conflicts, JOIN, joining).await?.is_some()
            && self.record.refusals_expected
        {
            self.record.acknowledged.push((student, course));
        }
        Ok(())
    }
}

/// Runs `clients` clients of `variant` on `store` for `warm_up` then
/// `duration`, and returns what the measured window saw (with the
/// invariants read back after a contended run).
async fn measure<S: EventStore + 'static>(
    store: Arc<S>,
    clients: usize,
    (variant, known_state): Arrangement,
    warm_up: Duration,
    duration: Duration,
) -> Result<Outcome, String> {
    // One known state for all clients, as the tasks of one service share it.
    let known = known_state.then(|| KnownState::new(KNOWN_STATE_BYTES));
    let start = Instant::now();
    let shared = Arc::new(Shared {
        from: start + warm_up,
        until: start + warm_up + duration,
        abort: AtomicBool::new(false),
        measured: AtomicU64::new(0),
        rounds: tokio::sync::Mutex::new(Vec::new()),
        clients,
    });
    let mut tasks = Vec::with_capacity(clients);
    for number in 0..clients {
        let app = DcbEnrolment::new(Counted::new(store.clone()));
        let mut client = Client {
            app: match &known {
                Some(known) => app.with_known_state(known.clone()),
                None => app,
            },
            record: Record {
                number,
                shared: shared.clone(),
                tally: Outcome::default(),
                acknowledged: Vec::new(),
                refusals_expected: variant == Variant::Contended,
            },
        };
        tasks.push(tokio::spawn(async move {
            let result = match variant {
                Variant::Disjoint => client.disjoint().await,
                Variant::Contended => client.contended().await,
            };
            if result.is_err() {
                client.record.shared.abort.store(true, Ordering::Relaxed);
            }
            result.map(|()| (client.record.tally, client.record.acknowledged))
        }));
    }
    let progress = progress(shared.clone(), start, warm_up, duration);
    let mut outcome = Outcome {
        clients,
        variant: Some(variant),
        elapsed: duration,
        ..Outcome::default()
    };
    let mut acknowledged = Vec::new();
    let mut failure = None;
    for task in tasks {
        match task.await {
            Ok(Ok((tally, acks))) => {
                outcome.operations += tally.operations;
                outcome.latencies.extend(tally.latencies);
                outcome.conflicts += tally.conflicts;
                outcome.retries += tally.retries;
                outcome.gave_up += tally.gave_up;
                outcome.refused += tally.refused;
                outcome.joins += tally.joins;
                acknowledged.extend(acks);
            }
            Ok(Err(err)) => failure = failure.or(Some(err)),
            Err(err) => failure = failure.or(Some(format!("a client task failed: {err}"))),
        }
    }
    shared.abort.store(true, Ordering::Relaxed);
    let _ = progress.await;
    outcome.known = known.as_ref().map(KnownState::stats);
    if let Some(err) = failure {
        return Err(err);
    }
    if variant == Variant::Contended {
        let courses: HashSet<CourseId> = shared
            .rounds
            .lock()
            .await
            .iter()
            .flat_map(|round| round.iter().copied())
            .collect();
        outcome.invariants = Some(invariants::check(&*store, &acknowledged, &courses).await?);
    }
    Ok(outcome)
}

/// The progress bar on stderr, until the run ends.
fn progress(
    shared: Arc<Shared>,
    start: Instant,
    warm_up: Duration,
    duration: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let bar = ProgressBar::new((warm_up + duration).as_secs().max(1));
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        while !shared.over() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            bar.set_position(start.elapsed().as_secs());
            let now = Instant::now();
            if now < shared.from {
                bar.set_message("warming up");
            } else {
                let operations = shared.measured.load(Ordering::Relaxed);
                bar.set_message(format!(
                    "{operations} ops, {} ops/s",
                    figure(per_second(operations, now - shared.from), 0, "?")
                ));
            }
        }
        bar.finish_and_clear();
    })
}

/// `count` per `elapsed` second; `None` when there is no time to divide
/// by, so that no figure is infinite or NaN.
#[allow(clippy::cast_precision_loss)]
fn per_second(count: u64, elapsed: Duration) -> Option<f64> {
    let seconds = elapsed.as_secs_f64();
    Some(count as f64 / seconds).filter(|rate| seconds > 0.0 && rate.is_finite())
}

/// `value` with `decimals` decimals, or `missing` when it was not measured.
fn figure(value: Option<f64>, decimals: usize, missing: &str) -> String {
    value.map_or_else(|| missing.to_owned(), |v| format!("{v:.decimals$}"))
}

/// The run's figures, as one JSON object (docs/spec.md §5) or as a summary
/// of a few lines. A figure that cannot be computed — a rate over no time,
/// the time per operation of none, a baseline that could not be measured —
/// is `null` in JSON and `n/a` in the summary, never `inf` or `NaN`.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
fn report(store: &str, outcome: &mut Outcome, baseline: Option<&Baseline>, json: bool) -> String {
    outcome.latencies.sort_unstable();
    let latencies = &outcome.latencies;
    let percentile = |p: f64| {
        let last = latencies.len().checked_sub(1)?;
        let index = (last as f64 * p / 100.0).round() as usize;
        Some(latencies[index].as_secs_f64() * 1e6)
    };
    let ops_per_sec = per_second(outcome.operations, outcome.elapsed);
    let us_per_op = ops_per_sec
        .filter(|&rate| rate > 0.0)
        .map(|rate| 1e6 / rate);
    let (p50, p99) = (percentile(50.0), percentile(99.0));
    let ratio = |base: Option<f64>| {
        ops_per_sec
            .zip(base.filter(|&rate| rate > 0.0))
            .map(|(ops, base)| ops / base)
    };
    let clients = outcome.clients.max(1);
    let variant = outcome.variant.unwrap_or(Variant::Disjoint);
    if json {
        let round = |value: Option<f64>, decimals: i32| {
            let scale = 10_f64.powi(decimals);
            value.map(|v| (v * scale).round() / scale)
        };
        let line = serde_json::json!({
            "store": store,
            "workload": "speedrun",
            "clients": clients,
            "variant": variant.name(),
            "events_per_append": 1,
            "stored_events": outcome.stored_events,
            "ops_per_sec": round(ops_per_sec, 1),
            "p50_us": round(p50, 1),
            "p99_us": round(p99, 1),
            "baseline": baseline.map_or("none", |b| b.name.as_str()),
            "baseline_ops_per_sec": round(baseline.and_then(|b| b.rate), 1),
            "ratio": round(baseline.and_then(|b| ratio(b.rate)), 3),
            "operations": outcome.operations,
            "seconds": round(Some(outcome.elapsed.as_secs_f64()), 3),
            "warm_up_seconds": WARM_UP.as_secs_f64(),
            "conflicts": outcome.conflicts,
            "retries": outcome.retries,
            "gave_up": outcome.gave_up,
            "joins": outcome.joins,
            "refused": outcome.refused,
            "violations": outcome.invariants.as_ref().map(Invariants::violations),
            "invariants": outcome.invariants.as_ref().map(Invariants::to_json),
            "known_state": outcome.known.is_some(),
            "known": outcome.known.map(known_json),
        });
        return line.to_string();
    }
    let mut who = if clients == 1 && variant == Variant::Disjoint {
        store.to_owned()
    } else {
        format!("{store}, {clients} clients, {}", variant.name())
    };
    if outcome.known.is_some() {
        who.push_str(", known state");
    }
    let mut text = format!(
        "{who}: {} operations in {:.1} s: {} ops/s, {} µs/op (p50 {} µs, p99 {} µs)",
        outcome.operations,
        outcome.elapsed.as_secs_f64(),
        figure(ops_per_sec, 0, "n/a"),
        figure(us_per_op, 1, "n/a"),
        figure(p50, 1, "n/a"),
        figure(p99, 1, "n/a"),
    );
    if variant == Variant::Contended || outcome.conflicts > 0 {
        let _ = write!(
            text,
            "\n{} joins succeeded, {} refused (fully booked or over the limit); \
             {} conflicts: {} retried, {} gave up after every attempt",
            outcome.joins, outcome.refused, outcome.conflicts, outcome.retries, outcome.gave_up
        );
    }
    if let Some(invariants) = &outcome.invariants {
        let _ = write!(text, "\n{}", invariants.summary());
    }
    if let Some(known) = outcome.known {
        let _ = write!(text, "\n{}", known_summary(known));
    }
    if let Some(Baseline { name, rate }) = baseline {
        let rate = *rate;
        let what = baseline_name(name, clients);
        let _ = match (rate, ratio(rate)) {
            (Some(rate), Some(ratio)) => write!(
                text,
                "\n{what}: {rate:.0}/s; the speedrun runs at {ratio:.2}x {name}"
            ),
            (Some(rate), None) => write!(text, "\n{what}: {rate:.0}/s"),
            (None, _) => write!(text, "\n{what}: could not be measured"),
        };
    }
    text
}

/// What a run's known state did, for the summary.
fn known_summary(known: KnownStats) -> String {
    format!(
        "known state: {} decisions served without a read, {} read, {} stale (conflicted, then \
         read)",
        known.served, known.read, known.stale
    )
}

/// What a run's known state did, for the JSON line.
fn known_json(known: KnownStats) -> serde_json::Value {
    serde_json::json!({
        "served": known.served,
        "read": known.read,
        "stale": known.stale,
        "entries": known.entries,
    })
}

/// What the baseline `name` is, measured with `clients` clients.
fn baseline_name(name: &str, clients: usize) -> String {
    if name == "F" {
        "F (4 KiB append + fdatasync) on the same disk".to_owned()
    } else if clients == 1 {
        format!("{name} (single-row INSERT transactions from one client on the same server)")
    } else {
        format!(
            "{name} (single-row INSERT transactions from {clients} clients at once on the \
             same server)"
        )
    }
}

/// `F` measured inside the runtime, on a blocking thread, as the embedded
/// store's own writer thread syncs; `None` if it could not be measured.
async fn sync_rate(dir: &Path) -> Option<f64> {
    let dir: PathBuf = dir.to_owned();
    tokio::task::spawn_blocking(move || raw_sync_rate(&dir, BASELINE))
        .await
        .ok()
        .flatten()
}

/// `F`: 4 KiB appends, each followed by `fdatasync`, per second, in `dir`;
/// `None` if the file cannot be written.
fn raw_sync_rate(dir: &Path, duration: Duration) -> Option<f64> {
    let path = dir.join("baseline.bin");
    let Ok(mut file) = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
    else {
        return None;
    };
    let block = [0x5a_u8; 4096];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        if file
            .write_all(&block)
            .and_then(|()| file.sync_data())
            .is_err()
        {
            break;
        }
        n += 1;
    }
    let rate = per_second(n, start.elapsed()).filter(|_| n > 0);
    let _ = std::fs::remove_file(path);
    rate
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(operations: u64, elapsed: Duration) -> Outcome {
        Outcome {
            clients: 1,
            operations,
            elapsed,
            latencies: (0..operations).map(Duration::from_micros).collect(),
            stored_events: operations,
            ..Outcome::default()
        }
    }

    fn no_inf_or_nan(text: &str) {
        let lower = text.to_lowercase();
        assert!(!lower.contains("inf") && !lower.contains("nan"), "{text}");
    }

    // Issue 21: `speedrun --seconds 0` printed "inf µs/op", and a baseline
    // that could not be measured came out as NaN, which is not even JSON.
    // Every figure is now computed only when there is something to divide
    // by, and is `n/a` (`null` in JSON) otherwise.
    #[test]
    fn figures_that_cannot_be_computed_are_never_inf_or_nan() {
        let unmeasured = Baseline {
            name: "F".to_owned(),
            rate: None,
        };
        let zero = Baseline {
            name: "I_1".to_owned(),
            rate: Some(0.0),
        };
        for (mut outcome, baseline) in [
            (outcome(0, Duration::from_secs(1)), Some(&unmeasured)),
            (outcome(0, Duration::ZERO), Some(&zero)),
            (outcome(120, Duration::ZERO), None),
            (outcome(120, Duration::from_secs(1)), Some(&zero)),
        ] {
            let text = report("memory", &mut outcome, baseline, false);
            no_inf_or_nan(&text);
            let json = report("memory", &mut outcome, baseline, true);
            no_inf_or_nan(&json);
            let json: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
            assert_eq!(json["workload"], "speedrun");
        }

        let mut idle = outcome(0, Duration::from_secs(1));
        assert_eq!(
            report("memory", &mut idle, None, false),
            "memory: 0 operations in 1.0 s: 0 ops/s, n/a µs/op (p50 n/a µs, p99 n/a µs)"
        );
        let mut instant = outcome(0, Duration::ZERO);
        let json: serde_json::Value =
            serde_json::from_str(&report("memory", &mut instant, None, true)).unwrap();
        assert!(json["ops_per_sec"].is_null() && json["p50_us"].is_null());
    }

    #[test]
    fn measured_figures_are_printed() {
        let mut run = outcome(200, Duration::from_secs(2));
        let baseline = Baseline {
            name: "F".to_owned(),
            rate: Some(50.0),
        };
        let text = report("embedded", &mut run, Some(&baseline), false);
        let mut unmeasured = outcome(200, Duration::from_secs(2));
        let none = Baseline {
            name: "I_1".to_owned(),
            rate: None,
        };
        assert!(
            report("postgres", &mut unmeasured, Some(&none), false)
                .ends_with("on the same server): could not be measured")
        );
        assert!(text.starts_with("embedded: 200 operations in 2.0 s: 100 ops/s, 10000.0 µs/op"));
        assert!(text.ends_with("the speedrun runs at 2.00x F"), "{text}");
        let json: serde_json::Value =
            serde_json::from_str(&report("embedded", &mut run, Some(&baseline), true)).unwrap();
        assert_eq!(json["ratio"], 2.0);
        assert_eq!(json["baseline_ops_per_sec"], 50.0);
    }

    /// A store whose appends wait a millisecond first, as a slow disk
    /// would: a decision's read and its append are then far enough apart
    /// that clients on the same courses lose races.
    struct Slow(InMemoryStore);

    impl EventStore for Slow {
        type Stream = <InMemoryStore as EventStore>::Stream;

        fn read(
            &self,
            query: &Query,
            options: ReadOptions,
        ) -> impl Future<Output = Result<Self::Stream, ReadError>> + Send {
            self.0.read(query, options)
        }

        async fn append(
            &self,
            events: Vec<EventRecord>,
            condition: Option<AppendCondition>,
        ) -> Result<Position, AppendError> {
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.0.append(events, condition).await
        }

        fn head(&self) -> impl Future<Output = Result<Option<Position>, ReadError>> + Send {
            self.0.head()
        }
    }

    // Issue 28: a contended run on a small in-memory store keeps every
    // invariant, read back from the store, and counts its lost races
    // consistently: each conflict is retried or given up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_contended_run_keeps_the_invariants_and_counts_its_conflicts() {
        let store = Arc::new(Slow(InMemoryStore::new()));
        let outcome = measure(
            store.clone(),
            4,
            (Variant::Contended, false),
            Duration::ZERO,
            Duration::from_millis(500),
        )
        .await
        .unwrap();
        let invariants = outcome.invariants.as_ref().expect("checked");
        assert_eq!(invariants.violations(), 0, "{}", invariants.summary());
        assert_eq!(invariants.events_checked, store.0.len() as u64);
        assert!(outcome.joins > 0, "some joins succeed");
        assert!(
            outcome.conflicts > 0,
            "4 clients on the same courses lose races"
        );
        assert_eq!(outcome.conflicts, outcome.retries + outcome.gave_up);
        assert!(outcome.operations >= outcome.joins + outcome.refused + outcome.gave_up);
        assert_eq!(outcome.latencies.len() as u64, outcome.operations);
        assert_eq!(
            (outcome.clients, outcome.variant),
            (4, Some(Variant::Contended))
        );
        let json: serde_json::Value =
            serde_json::from_str(&report("memory", &mut { outcome }, None, true)).unwrap();
        assert_eq!(json["variant"], "contended");
        assert_eq!(json["clients"], 4);
        assert_eq!(json["violations"], 0);
        assert!(json["conflicts"].as_u64().unwrap() > 0);
    }

    // The disjoint clients never touch each other's courses: no conflict,
    // no refusal, and every iteration's joins succeed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn disjoint_clients_never_conflict() {
        let store = Arc::new(Slow(InMemoryStore::new()));
        let outcome = measure(
            store.clone(),
            3,
            (Variant::Disjoint, false),
            Duration::ZERO,
            Duration::from_millis(300),
        )
        .await
        .unwrap();
        assert!(outcome.operations > 0 && outcome.joins > 0);
        assert_eq!(
            (outcome.conflicts, outcome.refused, outcome.gave_up),
            (0, 0, 0)
        );
        assert!(outcome.invariants.is_none());
        assert!(store.0.len() as u64 >= outcome.operations);
    }

    // Issue 28: with a known state shared by the clients, a contended run
    // decides from states that other clients make stale, so its appends
    // conflict and are read and decided again; it must keep every
    // invariant all the same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_contended_run_from_known_state_keeps_the_invariants() {
        let store = Arc::new(Slow(InMemoryStore::new()));
        let outcome = measure(
            store.clone(),
            4,
            (Variant::Contended, true),
            Duration::ZERO,
            Duration::from_millis(500),
        )
        .await
        .unwrap();
        let invariants = outcome.invariants.as_ref().expect("checked");
        assert_eq!(invariants.violations(), 0, "{}", invariants.summary());
        assert_eq!(invariants.events_checked, store.0.len() as u64);
        let known = outcome.known.expect("a known state");
        assert!(known.served > 0, "some decisions are served: {known:?}");
        assert!(
            known.stale > 0,
            "other clients make states stale: {known:?}"
        );
        assert!(outcome.joins > 0 && outcome.refused > 0);
    }

    // Issue 28: one client with a known state decides every join of the
    // disjoint variant from it: the courses and students it registered are
    // known from their registration on, and nothing else writes to them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_client_decides_every_join_from_known_state() {
        let store = Arc::new(Slow(InMemoryStore::new()));
        let outcome = measure(
            store.clone(),
            1,
            (Variant::Disjoint, true),
            Duration::ZERO,
            Duration::from_millis(300),
        )
        .await
        .unwrap();
        let known = outcome.known.expect("a known state");
        assert!(outcome.joins > 0);
        assert_eq!((known.read, known.stale), (0, 0), "{known:?}");
        assert!(known.served >= outcome.joins, "{known:?}");
        let json: serde_json::Value =
            serde_json::from_str(&report("memory", &mut { outcome }, None, true)).unwrap();
        assert_eq!(json["known_state"], true);
    }
}
