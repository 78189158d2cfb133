//! The embedded store against a writing process that is killed, a second
//! process that wants the same store, and a full disk.
//!
//! Each test runs this test binary again as a child process: the
//! `#[ignore]`d test `child_process` at the end of this file, started with
//! `--exact embedded_crash::child_process --include-ignored` and the
//! environment variable `DCB_EMBEDDED_CHILD` naming its role. The child reports to the parent on
//! its standard output, one line per report, each marked with `@@` (the
//! test harness prints lines of its own), flushed as soon as it is written.
//!
//! Unix only: the crash test kills with `SIGKILL`. The full-disk test is
//! Linux only: it limits the file size with the shell's `ulimit -f` and
//! checks the limit in `/proc`.
#![cfg(unix)]

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use dcb_core::embedded::{EmbeddedOptions, EmbeddedStore, OpenError};
use dcb_core::{
    AppendCondition, AppendError, EventRecord, EventStore, EventType, Position, Query, QueryItem,
    ReadOptions, SequencedEvent, Tag, Tags, Uuid,
};

use crate::support::{block_on, tag, test_name};

// ---------------------------------------------------------------------------
// Running a child process.

/// The child's role (`crash`, `lock`, `full-disk`).
const ROLE: &str = "DCB_EMBEDDED_CHILD";
/// The store's directory.
const DIR: &str = "DCB_EMBEDDED_CHILD_DIR";
/// Role-specific: the run number and seed (crash), the lock timeout in
/// milliseconds (lock), the file size limit in bytes (full-disk).
const ARG: &str = "DCB_EMBEDDED_CHILD_ARG";
const SEED: &str = "DCB_EMBEDDED_CHILD_SEED";

/// The arguments that make the test binary run only `child_process`.
fn child_args() -> [String; 6] {
    [
        "--exact".to_owned(),
        test_name(module_path!(), "child_process"),
        "--include-ignored".to_owned(),
        "--nocapture".to_owned(),
        "--test-threads=1".to_owned(),
        "--quiet".to_owned(),
    ]
}

/// The mark of the child's report lines.
const MARK: &str = "@@";

/// How long the parent waits for a line before it calls the child hung.
/// Only a guard against a test that would never end; no result depends on
/// timing.
const HANG: Duration = Duration::from_mins(2);

fn child_command(role: &str, dir: &Path, arg: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command.args(child_args());
    child_env(&mut command, role, dir, arg);
    command
}

fn child_env(command: &mut Command, role: &str, dir: &Path, arg: &str) {
    command
        .env(ROLE, role)
        .env(DIR, dir)
        .env(ARG, arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
}

/// Writes one report line to the parent.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{MARK}{line}")
        .and_then(|()| out.flush())
        .expect("report to the parent");
}

/// A running child and what it has reported so far.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stdout: JoinHandle<()>,
    stderr: JoinHandle<String>,
}

/// A child that has ended.
struct Ended {
    status: ExitStatus,
    /// Every report line, in order, without the mark.
    lines: Vec<String>,
    stderr: String,
}

impl Running {
    fn start(mut command: Command) -> Running {
        let mut child = command.spawn().expect("start the child process");
        let stdout = child.stdout.take().expect("the child's stdout");
        let mut stderr = child.stderr.take().expect("the child's stderr");
        let (send, lines) = mpsc::channel();
        let stdout = std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                // A line without its newline was cut off by the kill.
                if buf.pop() != Some(b'\n') {
                    break;
                }
                let line = String::from_utf8_lossy(&buf);
                if let Some(at) = line.find(MARK)
                    && send.send(line[at + MARK.len()..].to_owned()).is_err()
                {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
            stdout,
            stderr,
        }
    }

    /// The next report line; `None` once the child's output ended.
    fn next_line(&mut self) -> Option<String> {
        match self.lines.recv_timeout(HANG) {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                panic!("the child reported nothing for {HANG:?}; it hangs");
            }
        }
    }

    /// A report line if one is there already.
    fn try_line(&mut self) -> Option<String> {
        let line = self.lines.try_recv().ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Kills the child (`SIGKILL`) unless `kill` is false, waits for it,
    /// and collects everything it reported.
    fn end(mut self, kill: bool) -> Ended {
        if kill {
            self.child.kill().expect("kill the child");
        }
        let status = self.child.wait().expect("wait for the child");
        self.stdout.join().expect("the stdout reader");
        self.seen.extend(self.lines.try_iter());
        Ended {
            status,
            lines: self.seen,
            stderr: self.stderr.join().expect("the stderr reader"),
        }
    }
}

// ---------------------------------------------------------------------------
// Killed while appending.

/// Decisions run on this many boundaries at once...
const BOUNDARIES: u32 = 6;
/// ... by this many concurrent writers in the child.
const WRITERS: u64 = 6;

/// Small segments, so that kills also hit rotations.
fn crash_options() -> EmbeddedOptions {
    EmbeddedOptions::default().segment_size(16 * 1024)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// One event of one boundary.
    Single,
    /// Two to four consecutive events of one boundary.
    Multi,
    /// One event of each of two boundaries, under the union of their
    /// queries.
    Cross,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Single => "Single",
            Kind::Multi => "Multi",
            Kind::Cross => "Cross",
        }
    }

    fn parse(s: &str) -> Kind {
        match s {
            "Single" => Kind::Single,
            "Multi" => Kind::Multi,
            "Cross" => Kind::Cross,
            other => panic!("unknown kind {other}"),
        }
    }
}

/// One append, as the child made it and reports it once acknowledged.
///
/// Event `i` of an append is the `k`-th event of boundary `b`: it has type
/// `kind`, the tag `boundary:b`, optionally an id, and as data
/// `"batch i n b k"` and `pad` dots (`n` is the append's size), from
/// which the parent checks that appends are whole and conditions held.
#[derive(Clone, Debug)]
struct Ack {
    /// The position of the append's last event.
    last: u64,
    /// The head of the decision's read: the condition's `after`.
    after: Option<u64>,
    /// Unique per append: `run.writer.sequence`.
    batch: String,
    kind: Kind,
    /// The padding of each event's data: mostly short, now and then tens
    /// of kilobytes, so that some batches span many pages and segments.
    pad: usize,
    /// Each event's boundary, number within the boundary, and id.
    events: Vec<(u32, u64, Option<Uuid>)>,
}

impl Ack {
    fn line(&self) -> String {
        let events: Vec<String> = self
            .events
            .iter()
            .map(|(b, k, id)| {
                format!(
                    "{b}:{k}:{}",
                    id.map_or_else(|| "-".to_owned(), |id| id.to_string())
                )
            })
            .collect();
        format!(
            "ACK {} {} {} {} {} {}",
            self.last,
            self.after.map_or_else(|| "-".to_owned(), |a| a.to_string()),
            self.batch,
            self.kind.name(),
            self.pad,
            events.join(",")
        )
    }

    fn parse(line: &str) -> Ack {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 7, "a malformed report: {line}");
        let events = fields[6]
            .split(',')
            .map(|e| {
                let parts: Vec<&str> = e.split(':').collect();
                let id = (parts[2] != "-").then(|| parts[2].parse().expect("an id"));
                (
                    parts[0].parse().expect("a boundary"),
                    parts[1].parse().expect("a number"),
                    id,
                )
            })
            .collect();
        Ack {
            last: fields[1].parse().expect("a position"),
            after: (fields[2] != "-").then(|| fields[2].parse().expect("a position")),
            batch: fields[3].to_owned(),
            kind: Kind::parse(fields[4]),
            pad: fields[5].parse().expect("a length"),
            events,
        }
    }

    /// The events exactly as appended.
    fn stored(&self) -> Vec<EventRecord> {
        let n = self.events.len();
        self.events
            .iter()
            .enumerate()
            .map(|(i, &(b, k, id))| {
                let event = EventRecord::new(
                    EventType::from_static(self.kind.name()),
                    event_data(&self.batch, i, n, b, k, self.pad),
                )
                .with_tags([boundary_tag(b)]);
                match id {
                    Some(id) => event.with_id(id),
                    None => event,
                }
            })
            .collect()
    }

    fn boundaries(&self) -> Vec<u32> {
        let mut out: Vec<u32> = self.events.iter().map(|e| e.0).collect();
        out.dedup();
        out
    }

    /// The decision's condition: no event of its boundaries after its read.
    fn condition(&self) -> AppendCondition {
        AppendCondition::new(boundary_query(&self.boundaries()))
            .after(self.after.and_then(Position::new))
    }
}

fn boundary_tag(b: u32) -> Tag {
    tag(&format!("boundary:{b}"))
}

fn boundary_query(boundaries: &[u32]) -> Query {
    Query::from_items(
        boundaries
            .iter()
            .map(|&b| QueryItem::new().tags([boundary_tag(b)])),
    )
}

fn event_data(batch: &str, i: usize, n: usize, b: u32, k: u64, pad: usize) -> String {
    let padding = ".".repeat(pad);
    format!("{batch} {i} {n} {b} {k} {padding}")
}

/// What an event's data says about it.
struct Parsed {
    batch: String,
    i: usize,
    n: usize,
    b: u32,
    k: u64,
}

fn parse_data(data: &[u8]) -> Parsed {
    let text = std::str::from_utf8(data).expect("event data is text");
    let fields: Vec<&str> = text.split(' ').collect();
    assert_eq!(fields.len(), 6, "malformed event data: {text:?}");
    Parsed {
        batch: fields[0].to_owned(),
        i: fields[1].parse().expect("an index"),
        n: fields[2].parse().expect("a size"),
        b: fields[3].parse().expect("a boundary"),
        k: fields[4].parse().expect("a number"),
    }
}

/// The child: opens the store and makes decisions on every boundary from
/// several writers at once, forever, reporting each acknowledged append.
fn crash_child(dir: &Path) {
    let run: u64 = std::env::var(ARG)
        .expect(ARG)
        .parse()
        .expect("a run number");
    let seed: u64 = std::env::var(SEED).expect(SEED).parse().expect("a seed");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let store =
            EmbeddedStore::open_with(dir, &crash_options()).expect("the child opens the store");
        say(&format!("READY {}", store.len()));
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| tokio::spawn(decide_forever(store.clone(), run, seed, writer)))
            .collect();
        for writer in writers {
            writer.await.expect("a writer failed");
        }
    });
}

async fn decide_forever(store: EmbeddedStore, run: u64, seed: u64, writer: u64) {
    let mut rng = fastrand::Rng::with_seed(seed ^ run.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ writer);
    for sequence in 0u64.. {
        let kind = match rng.u8(0..10) {
            0..=5 => Kind::Single,
            6..=7 => Kind::Multi,
            _ => Kind::Cross,
        };
        let first = rng.u32(0..BOUNDARIES);
        let boundaries = match kind {
            Kind::Single | Kind::Multi => vec![first],
            Kind::Cross => vec![first, (first + rng.u32(1..BOUNDARIES)) % BOUNDARIES],
        };
        let query = boundary_query(&boundaries);
        let read = store
            .read_to_end(&query, ReadOptions::new())
            .await
            .expect("the decision's read");
        let mut next: HashMap<u32, u64> = boundaries.iter().map(|&b| (b, 0)).collect();
        for event in &read.events {
            *next
                .get_mut(&parse_data(event.data()).b)
                .expect("the read returns only the queried boundaries") += 1;
        }
        let plan = match kind {
            Kind::Single => vec![first],
            Kind::Multi => vec![first; rng.usize(2..=4)],
            Kind::Cross => boundaries,
        };
        let with_ids = rng.u8(0..10) < 4;
        let pad = if rng.u8(0..100) < 3 {
            rng.usize(8 << 10..=32 << 10)
        } else {
            rng.usize(0..60)
        };
        let events = plan
            .into_iter()
            .map(|b| {
                let k = next.get_mut(&b).expect("a planned boundary");
                *k += 1;
                (b, *k - 1, with_ids.then(Uuid::new_v4))
            })
            .collect();
        let mut ack = Ack {
            last: 0,
            after: read.head.map(Position::get),
            batch: format!("{run}.{writer}.{sequence}"),
            kind,
            pad,
            events,
        };
        match store.append(ack.stored(), Some(ack.condition())).await {
            Ok(position) => {
                ack.last = position.get();
                say(&ack.line());
            }
            Err(AppendError::ConditionFailed { .. }) => {}
            Err(other) => panic!("append {} failed: {other}", ack.batch),
        }
    }
}

/// What one check of the whole log found.
struct Checked {
    events: usize,
    /// Appends in the log that were not acknowledged (written, but the
    /// child died before their sync returned).
    unacknowledged: usize,
}

/// Checks the reopened store against every append acknowledged so far and
/// against the rules every append followed.
async fn check_log(store: &EmbeddedStore, acks: &[Ack]) -> Checked {
    let all = store
        .read_to_end(&Query::all(), ReadOptions::new())
        .await
        .expect("read everything");
    let n = all.events.len();
    assert_eq!(all.head, Position::new(n as u64), "the head of a full read");
    assert_eq!(store.head().await.expect("head"), all.head, "head()");
    assert_eq!(store.recovery().events, n as u64, "recovery's count");
    let (next_k, batches) = check_sequence(&all.events);

    // Every acknowledged append, where it was acknowledged, as it was made.
    let mut acknowledged = HashSet::new();
    for ack in acks {
        let last = usize::try_from(ack.last).expect("a position");
        assert!(
            last <= n,
            "append {} was acknowledged at {last}, but the log ends at {n}",
            ack.batch
        );
        let expected = ack.stored();
        let first = last + 1 - expected.len();
        let stored: Vec<EventRecord> = all.events[first - 1..last]
            .iter()
            .map(|e| e.event.clone())
            .collect();
        assert!(
            stored == expected,
            "append {} acknowledged at {first}..={last} is not stored as made:\n stored {stored:?}\n made   {expected:?}",
            ack.batch
        );
        acknowledged.insert(ack.batch.as_str());
    }

    // The index agrees with the log.
    for b in 0..BOUNDARIES {
        let read = store
            .read_to_end(&boundary_query(&[b]), ReadOptions::new())
            .await
            .expect("read a boundary");
        assert_eq!(read.head, all.head);
        let ks: Vec<u64> = read.events.iter().map(|e| parse_data(e.data()).k).collect();
        assert_eq!(
            ks,
            (0..next_k[b as usize]).collect::<Vec<_>>(),
            "boundary {b}"
        );
    }

    Checked {
        events: n,
        unacknowledged: batches
            .iter()
            .filter(|b| !acknowledged.contains(b.as_str()))
            .count(),
    }
}

/// Checks the rules every append followed: positions gap-free, appends
/// whole and stored once, ids unique, and every boundary's events numbered
/// 0, 1, 2, ... in order (no condition was broken). Returns the number of
/// events of each boundary and the appends found.
fn check_sequence(events: &[SequencedEvent]) -> (Vec<u64>, HashSet<String>) {
    let n = events.len();
    let mut next_k = vec![0u64; BOUNDARIES as usize];
    let mut batches = HashSet::new();
    let mut ids = HashSet::new();
    let mut at = 0;
    while at < n {
        let first = parse_data(events[at].data());
        assert_eq!(
            first.i,
            0,
            "position {}: an append starts with its first event",
            at + 1
        );
        assert!(
            batches.insert(first.batch.clone()),
            "append {} is stored twice",
            first.batch
        );
        assert!(
            at + first.n <= n,
            "append {} at position {} has {} events, but the log ends at {n}: a partial append",
            first.batch,
            at + 1,
            first.n
        );
        for j in 0..first.n {
            let stored = &events[at + j];
            assert_eq!(
                stored.position.get(),
                (at + j + 1) as u64,
                "positions are 1..=head"
            );
            let parsed = parse_data(stored.data());
            assert_eq!(
                (parsed.batch.as_str(), parsed.i, parsed.n),
                (first.batch.as_str(), j, first.n),
                "position {}: the events of an append are stored together, in order",
                at + j + 1
            );
            let b = parsed.b as usize;
            assert_eq!(
                parsed.k,
                next_k[b],
                "position {} holds event {} of boundary {b}, whose next event is {}: a condition was broken",
                at + j + 1,
                parsed.k,
                next_k[b]
            );
            next_k[b] += 1;
            assert_eq!(stored.tags(), &Tags::from([boundary_tag(parsed.b)]));
            if let Some(id) = stored.id() {
                assert!(ids.insert(id), "id {id} is stored twice");
            }
        }
        at += first.n;
    }
    (next_k, batches)
}

/// Waits for a random moment to kill the child at: a fifth of the time
/// up to 40 ms after its start (while it starts, recovers, or appends);
/// otherwise up to 5 ms after it acknowledged a random number of appends,
/// which is returned.
fn wait_for_a_random_moment(child: &mut Running, rng: &mut fastrand::Rng) -> Option<usize> {
    if rng.u8(0..5) == 0 {
        std::thread::sleep(Duration::from_millis(rng.u64(0..=40)));
        return None;
    }
    let wanted = rng.usize(0..=40);
    let (mut ready, mut acked) = (false, 0);
    while !ready || acked < wanted {
        match child.next_line() {
            Some(line) if line.starts_with("READY") => ready = true,
            Some(line) if line.starts_with("ACK") => acked += 1,
            Some(line) => panic!("an unexpected report: {line}"),
            None => break, // the child ended: the caller reports it
        }
    }
    std::thread::sleep(Duration::from_micros(rng.u64(0..=5_000)));
    Some(wanted)
}

/// Repeats the appends with ids among `acks`: each must answer its
/// original position (and write nothing). Returns how many it repeated.
async fn repeat_appends(store: &EmbeddedStore, acks: &[&Ack]) -> usize {
    let mut repeated = 0;
    for ack in acks.iter().filter(|a| a.events[0].2.is_some()) {
        let position = store
            .append(ack.stored(), Some(ack.condition()))
            .await
            .unwrap_or_else(|e| panic!("repeating append {}: {e}", ack.batch));
        assert_eq!(position.get(), ack.last, "repeating append {}", ack.batch);
        repeated += 1;
    }
    repeated
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}

/// A child decides on several boundaries from six writers (single-event,
/// multi-event and two-boundary appends, some with ids) and reports each
/// acknowledged append; it is killed with `SIGKILL` at a random moment,
/// over and over on the same directory, so that the log and its recovery
/// accumulate. After each kill the parent reopens the store and checks it:
/// every acknowledged append is there, at its position, as made; positions
/// are gap-free; appends are whole; every boundary's events are numbered
/// 0, 1, 2, ... (the conditions held); ids are unique; and an idempotent
/// repeat answers the original position.
///
/// `DCB_CRASH_ITERATIONS` (default 250) and `DCB_CRASH_SEED` (default: the
/// clock; printed) repeat or stretch a run.
#[test]
fn acknowledged_appends_survive_kills_at_random_moments() {
    let started = Instant::now();
    let iterations: u64 = env_or("DCB_CRASH_ITERATIONS", 250);
    let seed: u64 = env_or(
        "DCB_CRASH_SEED",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    println!(
        "crash test: {iterations} kills, seed {seed} (DCB_CRASH_SEED={seed} repeats the schedule)"
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut acks: Vec<Ack> = Vec::new();
    let (mut early, mut waited_for, mut repaired, mut repeats, mut unacknowledged) =
        (0, 0, 0, 0, 0);
    let mut events = 0;
    for run in 0..iterations {
        let mut command = child_command("crash", dir.path(), &run.to_string());
        command.env(SEED, seed.to_string());
        let mut child = Running::start(command);
        match wait_for_a_random_moment(&mut child, &mut rng) {
            Some(wanted) => waited_for += wanted,
            None => early += 1,
        }
        let ended = child.end(true);
        assert_eq!(
            ended.status.signal(),
            Some(9),
            "run {run}: the child must run until it is killed, but it ended with {}:\n{}",
            ended.status,
            ended.stderr
        );
        let new: Vec<Ack> = ended
            .lines
            .iter()
            .filter(|l| l.starts_with("ACK"))
            .map(|l| Ack::parse(l))
            .collect();

        let store = EmbeddedStore::open_with(dir.path(), &crash_options())
            .unwrap_or_else(|e| panic!("run {run}: reopening after the kill: {e}"));
        if store.recovery().truncated.is_some() {
            repaired += 1;
        }
        acks.extend(new.iter().cloned());
        block_on(async {
            let checked = check_log(&store, &acks).await;
            events = checked.events;
            unacknowledged = checked.unacknowledged;
            // Repeats of this run's appends with ids, and a few older ones.
            let mut retry: Vec<&Ack> = new.iter().collect();
            retry.extend((0..3).filter_map(|_| rng.choice(acks.iter())));
            repeats += repeat_appends(&store, &retry).await;
            assert_eq!(
                store.head().await.unwrap(),
                Position::new(events as u64),
                "repeats write nothing"
            );
        });
        store.close();
    }

    let count = |kind: Kind| acks.iter().filter(|a| a.kind == kind).count();
    let segments = fs::read_dir(dir.path())
        .expect("list the store")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "log"))
        })
        .count();
    println!(
        "crash test: {iterations} kills ({early} early) in {:.1?}; {} acknowledged appends \
         ({} single, {} multi-event, {} two-boundary, {} with ids), {unacknowledged} more appends \
         written but never acknowledged, {events} events in {segments} segments; \
         {repaired} reopenings cut a torn tail; {repeats} idempotent repeats",
        started.elapsed(),
        acks.len(),
        count(Kind::Single),
        count(Kind::Multi),
        count(Kind::Cross),
        acks.iter().filter(|a| a.events[0].2.is_some()).count(),
    );
    // The parent waited for these acknowledgements before killing.
    assert!(acks.len() >= waited_for, "{} < {waited_for}", acks.len());
    assert!(count(Kind::Multi) > 0 && count(Kind::Cross) > 0 && repeats > 0);
    assert!(segments > 1, "the log rotated");
}

// ---------------------------------------------------------------------------
// One process at a time.

/// The child: tries to open the store with a lock timeout, reports what
/// happened, and appends an event if it got the store.
fn lock_child(dir: &Path) {
    let timeout = Duration::from_millis(
        std::env::var(ARG)
            .expect(ARG)
            .parse()
            .expect("milliseconds"),
    );
    say("TRYING");
    match EmbeddedStore::open_with(dir, &EmbeddedOptions::default().lock_timeout(timeout)) {
        Ok(store) => {
            say(&format!("OPENED {}", store.len()));
            let position = block_on(store.append(vec![lock_event("child")], None)).expect("append");
            say(&format!("APPENDED {position}"));
        }
        Err(err) => {
            let OpenError::Locked {
                dir: locked,
                waited,
            } = &err
            else {
                panic!("expected Locked, got {err:?}");
            };
            assert_eq!(locked, dir);
            assert!(
                *waited >= timeout,
                "gave up after {waited:?}, before the timeout"
            );
            say(&format!("LOCKED {err}"));
        }
    }
}

fn lock_event(by: &str) -> EventRecord {
    EventRecord::new(EventType::from_static("Opened"), format!("by {by}")).with_tags([tag("lock")])
}

fn run_lock_child(dir: &Path, timeout_ms: u64) -> Vec<String> {
    let ended = Running::start(child_command("lock", dir, &timeout_ms.to_string())).end(false);
    assert!(
        ended.status.success(),
        "the child failed ({}):\n{}",
        ended.status,
        ended.stderr
    );
    ended.lines
}

#[test]
fn another_process_cannot_open_the_store_until_it_is_closed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    for _ in 0..3 {
        block_on(store.append(vec![lock_event("parent")], None)).expect("append");
    }

    // While it is open, another process is refused after its timeout, with
    // a message that says what to do.
    let lines = run_lock_child(dir.path(), 200);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], "TRYING");
    let message = lines[1]
        .strip_prefix("LOCKED ")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("in use by another process"), "{message}");
    assert!(
        message.contains("close it or raise the lock timeout"),
        "{message}"
    );

    // Closed, it opens there.
    store.close();
    assert_eq!(
        run_lock_child(dir.path(), 200),
        ["TRYING", "OPENED 3", "APPENDED 4"]
    );

    // A process that waits longer gets the store as soon as it is closed,
    // and not before.
    let store = EmbeddedStore::open(dir.path()).expect("open again");
    assert_eq!(store.len(), 4);
    let mut child = Running::start(child_command("lock", dir.path(), "120000"));
    assert_eq!(child.next_line().as_deref(), Some("TRYING"));
    std::thread::sleep(Duration::from_millis(300)); // let it wait for the lock
    if let Some(line) = child.try_line() {
        panic!("the child got past the lock of an open store: {line}");
    }
    block_on(store.append(vec![lock_event("parent")], None)).expect("append");
    store.close();
    let ended = child.end(false);
    assert!(
        ended.status.success(),
        "the child failed ({}):\n{}",
        ended.status,
        ended.stderr
    );
    assert_eq!(ended.lines, ["TRYING", "OPENED 5", "APPENDED 6"]);

    let store = EmbeddedStore::open(dir.path()).expect("open at last");
    assert_eq!(store.len(), 6);
}

// ---------------------------------------------------------------------------
// A full disk.

/// The data of the small appends that fill what the big ones leave.
#[cfg(target_os = "linux")]
const SMALL_DATA: u64 = 16;

#[cfg(target_os = "linux")]
fn fill_event(i: u64, data_len: u64) -> EventRecord {
    let mut data = format!("{i:08}").into_bytes();
    data.resize(usize::try_from(data_len).expect("small"), b'x');
    EventRecord::new(EventType::from_static("Filled"), data)
        .with_tags([tag("disk")])
        .with_id(Uuid::from_u128(u128::from(i) + 1))
}

/// The limit on the size of files this process may write, from
/// `/proc/self/limits`, and whether `SIGXFSZ` is ignored.
#[cfg(target_os = "linux")]
fn file_size_limit() -> (String, bool) {
    const SIGXFSZ: u32 = 25;
    let limits = fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max file size"))
        .expect("a file size limit")
        .to_owned();
    let status = fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let ignored = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|mask| u64::from_str_radix(mask.trim(), 16).expect("a signal mask"))
        .expect("the ignored signals");
    (line, ignored & (1 << (SIGXFSZ - 1)) != 0)
}

/// The child, started under a file size limit: appends until the segment
/// cannot grow, checks the failure, then goes on appending what still fits.
#[cfg(target_os = "linux")]
fn full_disk_child(dir: &Path) {
    let limit: u64 = std::env::var(ARG)
        .expect(ARG)
        .parse()
        .expect("a limit in bytes");
    let (line, sigxfsz_ignored) = file_size_limit();
    let soft: Option<u64> = line.split_whitespace().nth(3).and_then(|v| v.parse().ok());
    assert_eq!(soft, Some(limit), "the shell did not set the limit: {line}");
    assert!(sigxfsz_ignored, "the shell did not ignore SIGXFSZ");

    block_on(async {
        let store = EmbeddedStore::open(dir).expect("open under the limit");
        let segment = dir.join(format!("{:020}.log", 1));
        let len = || fs::metadata(&segment).expect("the segment").len();
        let mut acknowledged = 0u64;

        // A first small append tells the size of a record around its data.
        let probe = fill_event(0, SMALL_DATA);
        let before = len();
        store
            .append(vec![probe.clone()], None)
            .await
            .expect("the first append");
        acknowledged += 1;
        say(&format!("ACK 1 0 {SMALL_DATA}"));
        let overhead = len() - before - SMALL_DATA;
        let small = overhead + SMALL_DATA;

        // Big appends of a size that leaves room for a few small ones.
        let room = limit - len();
        let big_data = (900..1400)
            .find(|d| room % (overhead + d) >= 3 * small)
            .expect("a size of big appends");
        let big = overhead + big_data;

        let mut i = 1;
        for (data_len, record) in [(big_data, big), (SMALL_DATA, small)] {
            loop {
                let before = len();
                match store.append(vec![fill_event(i, data_len)], None).await {
                    Ok(position) => {
                        acknowledged += 1;
                        assert_eq!(position.get(), acknowledged);
                        assert_eq!(len(), before + record);
                        say(&format!("ACK {position} {i} {data_len}"));
                        i += 1;
                    }
                    Err(AppendError::Backend(err)) => {
                        let message = err.to_string();
                        assert!(before + record > limit, "failed with room left: {message}");
                        assert_eq!(len(), before, "a failed append leaves nothing behind");
                        assert!(
                            message.contains(&segment.display().to_string()),
                            "{message}"
                        );
                        assert!(message.contains("nothing was written"), "{message}");
                        assert_eq!(
                            store.len() as u64,
                            acknowledged,
                            "a failed append is not visible"
                        );
                        say(&format!("FULL {message}"));
                        break;
                    }
                    Err(other) => panic!("expected a backend error, got {other}"),
                }
            }
        }
        // An idempotent repeat needs no space.
        let repeat = store.append(vec![probe], None).await.expect("a repeat");
        assert_eq!(repeat, Position::FIRST);
        say("DONE");
    });
}

/// Under a file size limit (the shell's `ulimit -f`, with `SIGXFSZ`
/// ignored so that a write past it fails with `EFBIG` instead of killing
/// the process), a child appends until the segment cannot grow: the append
/// fails with `AppendError::Backend`, nothing of it stays in the file, and
/// the same store goes on accepting the appends that still fit. The file
/// size limit stands for a full disk: the same error path (a failed write,
/// the segment cut back); it cannot be lifted inside the child, so "space
/// is back" is the parent reopening the store without the limit: exactly
/// the acknowledged events are there, and big appends succeed again.
#[test]
#[cfg(target_os = "linux")]
fn a_full_disk_fails_appends_cleanly_and_the_store_goes_on() {
    const LIMIT: u64 = 64 * 1024;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut command = Command::new("sh");
    // POSIX shells count `ulimit -f` in blocks of 512 bytes; the child
    // checks the limit it got.
    command
        .arg("-c")
        .arg(r#"ulimit -f "$1" || exit 97; trap '' XFSZ; shift; exec "$@""#)
        .arg("sh")
        .arg((LIMIT / 512).to_string())
        .arg(std::env::current_exe().expect("the test binary"))
        .args(child_args());
    child_env(&mut command, "full-disk", dir.path(), &LIMIT.to_string());
    let ended = Running::start(command).end(false);
    assert!(
        ended.status.success(),
        "the child failed ({}):\n{}",
        ended.status,
        ended.stderr
    );

    let mut expected = Vec::new();
    let mut full = 0;
    for line in &ended.lines {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields[0] {
            "ACK" => {
                let position: usize = fields[1].parse().expect("a position");
                assert_eq!(position, expected.len() + 1);
                expected.push(fill_event(
                    fields[2].parse().expect("a number"),
                    fields[3].parse().expect("a size"),
                ));
            }
            "FULL" => full += 1,
            "DONE" => {}
            _ => panic!("an unexpected report: {line}"),
        }
    }
    assert_eq!(full, 2, "{:?}", ended.lines);
    assert_eq!(ended.lines.last().map(String::as_str), Some("DONE"));
    assert!(
        expected.len() > 40,
        "{} appends acknowledged",
        expected.len()
    );

    // Space is back.
    block_on(async {
        let store = EmbeddedStore::open(dir.path()).expect("reopen without the limit");
        assert_eq!(store.recovery().truncated, None, "nothing partial was left");
        let all = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .unwrap();
        let stored: Vec<EventRecord> = all.events.iter().map(|e| e.event.clone()).collect();
        assert!(
            stored == expected,
            "exactly the acknowledged events are stored"
        );
        let huge = fill_event(10_000, 2 * LIMIT);
        let position = store
            .append(vec![huge.clone()], None)
            .await
            .expect("a big append");
        assert_eq!(position.get(), expected.len() as u64 + 1);
        expected.push(huge);
        store.close();

        let store = EmbeddedStore::open(dir.path()).expect("reopen");
        let all = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .unwrap();
        let stored: Vec<EventRecord> = all.events.iter().map(|e| e.event.clone()).collect();
        assert!(stored == expected);
    });
}

// ---------------------------------------------------------------------------
// The child's entry point.

/// The child process of the other tests in this file, run only by them:
/// they start this test binary again with `--exact
/// embedded_crash::child_process --include-ignored` and
/// `DCB_EMBEDDED_CHILD` naming the role. Run
/// directly (without that variable), it has nothing to do.
#[test]
#[ignore = "the child process of the other tests in this file; they run it"]
fn child_process() {
    let Ok(role) = std::env::var(ROLE) else {
        println!("child_process: only the other tests in this file run it, as their child process");
        return;
    };
    let dir = PathBuf::from(std::env::var(DIR).expect(DIR));
    match role.as_str() {
        "crash" => crash_child(&dir),
        "lock" => lock_child(&dir),
        #[cfg(target_os = "linux")]
        "full-disk" => full_disk_child(&dir),
        other => panic!("unknown child role {other}"),
    }
}
