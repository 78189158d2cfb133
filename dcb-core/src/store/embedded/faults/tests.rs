//! The embedded store over [`Faulty`] files: random sequences of appends
//! (some conditional, some repeated, several at once so they share a
//! batch), faults armed at random points, crashes and reopens, checked
//! against a plain list of the appends.
//!
//! # The contract checked
//!
//! - An append that returned `Ok` is present, at the position it was
//!   given, after every reopen — unless a sync *lied* since the last
//!   crash: then the appends acknowledged after the last point where every
//!   byte was durable may be lost. The store must still open to a prefix of
//!   the appends, cut at an append's boundary, and report in
//!   [`Recovery::truncated`](crate::embedded::Recovery) exactly what it cut
//!   (and keep the cut bytes) — zeros after the last record, which hold
//!   nothing, are cut without a report; or, when a segment before the last
//!   lost bytes, refuse to open.
//! - A condition failure or a duplicate id is reported exactly when the
//!   plain list says so, naming the event it names; an `Ok` gives the
//!   position it gives.
//! - A `Backend` error needs a fault behind it, and says which of three it
//!   is — the store's words to its user, checked here:
//!   - *nothing was written* (a failed write, cut back; a segment that
//!     could not be made): the append is never visible, and the store goes
//!     on appending;
//!   - *the store stopped appending*: refused before writing, never
//!     visible;
//!   - anything else (a failed sync, a failed cut back): the outcome is
//!     unknown. The append is not visible while the store stays open, may
//!     be present (whole, in order) after a reopen, and the store refuses
//!     every later append until it is opened again.
//! - Reads never show an append that was not acknowledged, nor part of one.
//!
//! # Running
//!
//! `cargo test -p dcb-core --lib store::embedded::faults` runs a CI-sized
//! number of random cases (`DCB_FAULT_CASES`, default 3000: about 30 s on
//! an idle 2-core machine) and every case in `regressions.jsonl`. A soak,
//! with its figures on stderr (about 8 minutes):
//!
//! ```text
//! DCB_FAULT_CASES=100000 cargo test -p dcb-core --release --lib \
//!     store::embedded::faults::tests::random_faults -- --nocapture
//! ```
//!
//! A failure prints its seed (`DCB_FAULT_SEED=<hex>` runs it again) and
//! the shrunk case as one line of JSON: add that line, after a comment
//! line saying what it found, to `regressions.jsonl` to keep it.

use std::cell::RefCell;
use std::fmt::Write as _;

use futures_util::future::join_all;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;

use super::super::log::cut_short;
use super::{Crash, Faulty, Injected};
use crate::embedded::{EmbeddedOptions, EmbeddedStore, OpenError};
use crate::{
    AppendCondition, AppendError, EventRecord, EventStore, EventType, Position, Query, QueryItem,
    ReadOptions, Tag, Uuid,
};

const TYPES: [&str; 3] = ["Opened", "Moved", "Closed"];
const TAGS: [&str; 3] = ["a:1", "a:2", "b:1"];

/// The regression cases: one JSON case a line, after comment lines (`#`)
/// saying what each found.
const REGRESSIONS: &str = include_str!("regressions.jsonl");

// ---------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------

/// One step of a case.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Op {
    /// Appends submitted at once, so that they share a batch (or a few).
    Append(Vec<AppendSpec>),
    /// The `after + 1`-th write from now fails (`EIO`) after `written` of
    /// its bytes reached the file; the cut back after it fails too if
    /// `cut_back_fails`.
    FailWrite {
        after: u8,
        written: u16,
        cut_back_fails: bool,
    },
    /// The `after + 1`-th sync from now fails (`EIO`).
    FailSync { after: u8 },
    /// The `after + 1`-th sync from now returns `Ok`, durable or not.
    LieOnSync { after: u8 },
    /// Only `free` more bytes fit on the disk.
    FillDisk { free: u16 },
    /// The disk has room again.
    FreeDisk,
    /// The store is dropped and the machine crashes: of the bytes not
    /// durable, the first `torn` reach the files, then `zeros` zero bytes;
    /// the store is opened again.
    Crash { torn: u16, zeros: u16 },
    /// The store is closed and opened again; nothing is lost (a crash
    /// that keeps every byte, after which all of them count as durable).
    Reopen,
}

/// One append of a case.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct AppendSpec {
    events: Vec<EventSpec>,
    /// Whether the events carry ids (so that a repeat is idempotent).
    ids: bool,
    condition: Option<ConditionSpec>,
    /// Sends again the events of an earlier append (this index, modulo
    /// the appends tried so far) instead of `events`.
    repeat: Option<u16>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct EventSpec {
    ty: usize,
    tag: Option<usize>,
    /// The data's length.
    len: u16,
}

/// Fails the append if an event of type `ty` (with `tag`) is stored after
/// `back` events before the head.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ConditionSpec {
    ty: usize,
    tag: Option<usize>,
    back: u8,
}

fn event_spec() -> impl Strategy<Value = EventSpec> {
    (
        0..TYPES.len(),
        option::of(0..TAGS.len()),
        prop_oneof![4 => 0..64u16, 1 => 64..1500u16],
    )
        .prop_map(|(ty, tag, len)| EventSpec { ty, tag, len })
}

fn append_spec() -> impl Strategy<Value = AppendSpec> {
    (
        vec(event_spec(), 1..=3),
        any::<bool>(),
        option::weighted(
            0.5,
            (0..TYPES.len(), option::of(0..TAGS.len()), 0..4u8)
                .prop_map(|(ty, tag, back)| ConditionSpec { ty, tag, back }),
        ),
        option::weighted(0.15, any::<u16>()),
    )
        .prop_map(|(events, ids, condition, repeat)| AppendSpec {
            events,
            ids,
            condition,
            repeat,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        14 => vec(append_spec(), 1..=4).prop_map(Op::Append),
        2 => (0..4u8, 0..300u16, proptest::bool::weighted(0.3)).prop_map(
            |(after, written, cut_back_fails)| Op::FailWrite { after, written, cut_back_fails }
        ),
        2 => (0..4u8).prop_map(|after| Op::FailSync { after }),
        2 => (0..4u8).prop_map(|after| Op::LieOnSync { after }),
        1 => (0..3000u16).prop_map(|free| Op::FillDisk { free }),
        1 => Just(Op::FreeDisk),
        3 => (
            prop_oneof![0..64u16, 0..4096u16, Just(u16::MAX)],
            prop_oneof![3 => Just(0u16), 1 => 0..200u16],
        )
            .prop_map(|(torn, zeros)| Op::Crash { torn, zeros }),
        1 => Just(Op::Reopen),
    ]
}

fn case() -> impl Strategy<Value = Vec<Op>> {
    vec(op(), 1..48)
}

// ---------------------------------------------------------------------------
// The plain list of appends
// ---------------------------------------------------------------------------

/// What the store must hold, as a list of appends.
#[derive(Default)]
struct Model {
    /// The appends stored: acknowledged, or found by a reopen.
    stored: Vec<Vec<EventRecord>>,
    /// How many of `stored` must survive a crash.
    durable: usize,
    /// Appends whose outcome is unknown (their batch was written, its sync
    /// or cut back failed), after `stored`: a reopen may find them.
    unknown: Vec<Vec<EventRecord>>,
    /// Whether an append of unknown outcome failed since the store opened:
    /// the store must refuse every append until it is opened again.
    stopped: bool,
    /// Every append tried, for repeats.
    tried: Vec<Vec<EventRecord>>,
    /// Numbers the appends, so that each one's events are its own.
    serial: u64,
}

/// What the plain list says an append does.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expected {
    /// Stored, ending at this position.
    Appended(u64),
    /// An idempotent repeat of the append ending at this position.
    Repeat(u64),
    Conflict(u64),
    Duplicate(Uuid, u64),
}

impl Model {
    /// The events an append of `spec` sends, and its condition.
    fn make(&mut self, spec: &AppendSpec) -> (Vec<EventRecord>, Option<AppendCondition>) {
        self.serial += 1;
        let serial = self.serial;
        let events = match spec.repeat {
            Some(i) if !self.tried.is_empty() => {
                self.tried[usize::from(i) % self.tried.len()].clone()
            }
            _ => spec
                .events
                .iter()
                .enumerate()
                .map(|(i, event)| make_event(serial, i, event, spec.ids))
                .collect(),
        };
        self.tried.push(events.clone());
        let head = self.stored.iter().map(Vec::len).sum::<usize>() as u64;
        let condition = spec.condition.as_ref().map(|c| {
            let mut item = QueryItem::new().types([EventType::from_static(TYPES[c.ty])]);
            if let Some(tag) = c.tag {
                item = item.tags([Tag::from_static(TAGS[tag])]);
            }
            AppendCondition::new(Query::from_items([item]))
                .after(Position::new(head.saturating_sub(u64::from(c.back))))
        });
        (events, condition)
    }

    /// The events the store may hold, stored and unknown, in order.
    fn candidates(&self) -> impl Iterator<Item = &Vec<EventRecord>> {
        self.stored.iter().chain(&self.unknown)
    }

    /// What an append does against the stored appends and those of
    /// unknown outcome (which were in its batch, if any), by the rules of
    /// docs/spec.md §1, written out plainly.
    fn expect(&self, events: &[EventRecord], condition: Option<&AppendCondition>) -> Expected {
        let log: Vec<&EventRecord> = self.candidates().flatten().collect();
        let position_of_id = |id: Uuid| {
            log.iter()
                .position(|stored| stored.id() == Some(id))
                .map(|i| i as u64 + 1)
        };
        if events.iter().any(|e| e.id().is_some()) {
            if let Some(first) = events[0].id().and_then(position_of_id) {
                let exact = events.iter().enumerate().all(|(i, event)| {
                    let at = first + i as u64;
                    event.id().and_then(position_of_id) == Some(at)
                        && log[usize::try_from(at - 1).expect("small")] == event
                });
                if exact {
                    return Expected::Repeat(first + events.len() as u64 - 1);
                }
            }
            for event in events {
                if let Some(id) = event.id()
                    && let Some(at) = position_of_id(id)
                {
                    return Expected::Duplicate(id, at);
                }
            }
        }
        if let Some(condition) = condition {
            let after = condition.after.map_or(0, Position::get);
            let item = &condition.fail_if_events_match.items()[0];
            let matching = log
                .iter()
                .enumerate()
                .skip(usize::try_from(after).expect("small"))
                .find(|(_, event)| {
                    item.event_types().contains(event.event_type())
                        && item
                            .required_tags()
                            .iter()
                            .all(|t| event.tags().contains(t.as_str()))
                });
            if let Some((i, _)) = matching {
                return Expected::Conflict(i as u64 + 1);
            }
        }
        Expected::Appended(log.len() as u64 + events.len() as u64)
    }
}

fn make_event(serial: u64, i: usize, spec: &EventSpec, ids: bool) -> EventRecord {
    let mut data = format!("{serial}.{i}:").into_bytes();
    let len = usize::from(spec.len).max(data.len());
    let fill = b'a' + (serial % 26) as u8;
    data.resize(len, fill);
    let mut event = EventRecord::new(EventType::from_static(TYPES[spec.ty]), data);
    if let Some(tag) = spec.tag {
        event = event.with_tags([Tag::from_static(TAGS[tag])]);
    }
    if ids {
        event = event.with_id(Uuid::from_u128(u128::from(serial) << 8 | i as u128));
    }
    event
}

// ---------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------

/// What the random runs did, for the soak's report.
#[derive(Debug, Default)]
struct Figures {
    cases: u64,
    ops: u64,
    appends_acknowledged: u64,
    appends_refused: u64,
    appends_failed: u64,
    crashes: u64,
    reopens: u64,
    refused_opens: u64,
    full_disk_opens: u64,
    injected: Injected,
}

struct Run {
    rt: Runtime,
    dir: tempfile::TempDir,
    layer: Faulty,
    store: Option<EmbeddedStore>,
    model: Model,
    /// The lying syncs up to the last crash: any after it may have left
    /// acknowledged appends not durable.
    lies_before: u64,
    figures: Figures,
}

type Checked<T = ()> = Result<T, String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn options() -> EmbeddedOptions {
    EmbeddedOptions::default().segment_size(4096)
}

impl Run {
    fn new() -> Checked<Run> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| e.to_string())?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let layer = Faulty::default();
        let store = EmbeddedStore::open_on(dir.path(), &options(), layer.clone())
            .map_err(|e| format!("cannot open a new store: {e}"))?;
        Ok(Run {
            rt,
            dir,
            layer,
            store: Some(store),
            model: Model::default(),
            lies_before: 0,
            figures: Figures::default(),
        })
    }

    fn store(&self) -> &EmbeddedStore {
        self.store.as_ref().expect("the store is open")
    }

    /// Runs `ops`, then a crash that keeps nothing that was not durable;
    /// checks after every step.
    fn run(&mut self, ops: &[Op]) -> Checked {
        self.figures.cases += 1;
        for (i, op) in ops.iter().enumerate() {
            self.figures.ops += 1;
            let open = self
                .step(op)
                .map_err(|e| format!("step {i} ({op:?}): {e}"))?;
            if !open {
                return Ok(());
            }
        }
        self.crash(0, 0)
            .map(|_| ())
            .map_err(|e| format!("final crash: {e}"))
    }

    /// One step; `false` when the store refused to open, which ends the case.
    fn step(&mut self, op: &Op) -> Checked<bool> {
        match *op {
            Op::Append(ref specs) => self.append(specs)?,
            Op::FailWrite {
                after,
                written,
                cut_back_fails,
            } => self
                .layer
                .fail_write(after.into(), written.into(), cut_back_fails),
            Op::FailSync { after } => self.layer.fail_sync(after.into()),
            Op::LieOnSync { after } => self.layer.lie_on_sync(after.into()),
            Op::FillDisk { free } => self.layer.fill_disk(free.into()),
            Op::FreeDisk => self.layer.free_disk(),
            Op::Crash { torn, zeros } => return self.crash(torn.into(), zeros.into()),
            Op::Reopen => return self.crash(u64::MAX, 0),
        }
        Ok(true)
    }

    fn append(&mut self, specs: &[AppendSpec]) -> Checked {
        let before = self.layer.injected();
        let appends: Vec<_> = specs.iter().map(|spec| self.model.make(spec)).collect();
        // Each append is submitted when it is called, in this order. The
        // writer is held once it has the first, so that it takes them all
        // in one batch, on every run.
        self.layer.hold_next_batch();
        let mut pending = Vec::new();
        for (i, (events, condition)) in appends.iter().enumerate() {
            pending.push(self.store().append(events.clone(), condition.clone()));
            if i == 0 && !self.layer.wait_until_held() {
                self.layer.release();
                return Err("the writer did not take the append".to_owned());
            }
        }
        self.layer.release();
        let results = self.rt.block_on(join_all(pending));
        let faulted = self.layer.injected().operations() > before.operations();
        for ((events, condition), result) in appends.into_iter().zip(results) {
            self.check_outcome(events, condition.as_ref(), result, faulted)?;
        }
        let lied = self.layer.injected().lying_syncs > self.lies_before;
        if !lied || self.layer.all_durable() {
            self.model.durable = self.model.stored.len();
        }
        self.check_visible()
    }

    fn check_outcome(
        &mut self,
        events: Vec<EventRecord>,
        condition: Option<&AppendCondition>,
        result: Result<Position, AppendError>,
        faulted: bool,
    ) -> Checked {
        let model = &mut self.model;
        let expected = model.expect(&events, condition);
        match (result, &expected) {
            (Ok(position), Expected::Appended(last) | Expected::Repeat(last)) => {
                ensure!(
                    !model.stopped,
                    "an append was acknowledged after one whose outcome is unknown"
                );
                ensure!(
                    position.get() == *last,
                    "acknowledged at {position}, expected {expected:?}"
                );
                self.figures.appends_acknowledged += 1;
                if matches!(expected, Expected::Appended(_)) {
                    model.stored.push(events);
                }
            }
            (Err(AppendError::ConditionFailed { conflicting }), Expected::Conflict(at))
                if conflicting.get() == *at =>
            {
                self.figures.appends_refused += 1;
            }
            (Err(AppendError::DuplicateEventId { id, position }), Expected::Duplicate(i, at))
                if id == *i && position.get() == *at =>
            {
                self.figures.appends_refused += 1;
            }
            (Err(AppendError::Backend(error)), _) => {
                let message = error.to_string();
                ensure!(
                    faulted || model.stopped,
                    "failed with no fault injected: {message}"
                );
                self.figures.appends_failed += 1;
                if message.contains("stopped appending") {
                    ensure!(model.stopped, "stopped appending with no reason: {message}");
                } else if message.contains("nothing was written") {
                    ensure!(
                        !model.stopped,
                        "wrote after an append of unknown outcome: {message}"
                    );
                } else {
                    model.stopped = true;
                    if matches!(expected, Expected::Appended(_)) {
                        model.unknown.push(events);
                    }
                }
            }
            (other, _) => {
                return Err(format!("got {other:?}, expected {expected:?}"));
            }
        }
        Ok(())
    }

    /// Reads show exactly the stored appends.
    fn check_visible(&self) -> Checked {
        let expected: Vec<&EventRecord> = self.model.stored.iter().flatten().collect();
        let read = self
            .rt
            .block_on(self.store().read_to_end(&Query::all(), ReadOptions::new()))
            .map_err(|e| format!("read: {e}"))?;
        ensure!(
            read.events.len() == expected.len(),
            "reads show {} events, {} were acknowledged",
            read.events.len(),
            expected.len()
        );
        for (i, (found, wanted)) in read.events.iter().zip(&expected).enumerate() {
            ensure!(
                found.position.get() == i as u64 + 1 && &found.event == *wanted,
                "event {} reads as {found:?}, expected {wanted:?}",
                i + 1
            );
        }
        Ok(())
    }

    /// Drops the store, crashes (`torn` and `zeros` as in [`Op::Crash`]),
    /// opens the store again and checks what it holds and reports.
    fn crash(&mut self, torn: u64, zeros: u64) -> Checked<bool> {
        drop(self.store.take());
        let lied = self.layer.injected().lying_syncs > self.lies_before;
        let crash = self
            .layer
            .crash(self.dir.path(), torn, zeros)
            .map_err(|e| format!("crash: {e}"))?;
        self.lies_before = self.layer.injected().lying_syncs;
        if torn == u64::MAX {
            self.figures.reopens += 1;
        } else {
            self.figures.crashes += 1;
        }
        let mut opened = EmbeddedStore::open_on(self.dir.path(), &options(), self.layer.clone());
        let mut reported = true;
        if let Err(OpenError::Io { .. }) = &opened
            && self.layer.disk_is_full()
        {
            // An open that must write (the manifest) may fail on a full
            // disk; once there is room, opening again must work.
            self.figures.full_disk_opens += 1;
            self.layer.free_disk();
            opened = EmbeddedStore::open_on(self.dir.path(), &options(), self.layer.clone());
            // What the first open cut is not in the second one's report.
            reported = false;
        }
        if crash.earlier_segment_damaged {
            ensure!(
                lied,
                "a segment before the last lost bytes with no lying sync"
            );
            ensure!(
                matches!(
                    opened,
                    Err(OpenError::Corrupt { .. }
                        | OpenError::MissingSegment { .. }
                        | OpenError::NotAStore { .. })
                ),
                "a segment before the last lost bytes (a lying sync), yet the open gave {:?}",
                opened.map(|store| store.len())
            );
            self.figures.refused_opens += 1;
            return Ok(false);
        }
        let store = opened.map_err(|e| format!("open after the crash: {e}"))?;
        let required = if crash.lost == 0 {
            self.model.stored.len()
        } else {
            self.model.durable
        };
        let found = self.check_reopened(&store, required, reported.then_some(&crash))?;
        let model = &mut self.model;
        let mut kept: Vec<Vec<EventRecord>> = model.candidates().take(found).cloned().collect();
        std::mem::swap(&mut model.stored, &mut kept);
        model.unknown.clear();
        model.durable = found;
        model.stopped = false;
        self.store = Some(store);
        self.check_visible()?;
        Ok(true)
    }

    /// Checks that the reopened store holds a prefix of the candidate
    /// appends, whole ones, at least `required` of them, and that its
    /// recovery report says what the open cut after `crash` (if it is
    /// given); returns how many it holds.
    fn check_reopened(
        &self,
        store: &EmbeddedStore,
        required: usize,
        crash: Option<&Crash>,
    ) -> Checked<usize> {
        let read = self
            .rt
            .block_on(store.read_to_end(&Query::all(), ReadOptions::new()))
            .map_err(|e| format!("read: {e}"))?;
        let mut found = 0;
        let mut len = 0;
        let mut candidates = self.model.candidates();
        while len < read.events.len() {
            let next = candidates.next().ok_or_else(|| {
                format!(
                    "{} events after reopening, more than the {len} appended",
                    read.events.len()
                )
            })?;
            for (i, event) in next.iter().enumerate() {
                let Some(seen) = read.events.get(len + i) else {
                    return Err(format!(
                        "part of an append is visible: {} events, the append from {} has {}",
                        read.events.len(),
                        len + 1,
                        next.len()
                    ));
                };
                ensure!(
                    seen.position.get() == (len + i) as u64 + 1 && &seen.event == event,
                    "event {} after reopening is {seen:?}, expected {event:?}",
                    len + i + 1
                );
            }
            len += next.len();
            found += 1;
        }
        ensure!(
            found >= required,
            "lost acknowledged appends: {required} must survive, {found} did"
        );
        let recovery = store.recovery();
        ensure!(
            recovery.events == read.events.len() as u64,
            "the recovery reports {} events, the store holds {}",
            recovery.events,
            read.events.len()
        );
        if let Some(crash) = crash {
            check_cut(recovery, crash)?;
        }
        Ok(found)
    }
}

/// The recovery report says exactly what the open cut off the last
/// segment, and kept the bytes unless they were zeros.
fn check_cut(recovery: &crate::embedded::Recovery, crash: &Crash) -> Checked {
    let Some((path, before)) = &crash.last_segment else {
        ensure!(
            recovery.truncated.is_none(),
            "a cut reported with no segment"
        );
        return Ok(());
    };
    let short = cut_short(before);
    let (offset, cut) = if short {
        // A segment whose creation was cut short is removed (and made
        // anew if it was the only one).
        (0, before.len())
    } else {
        let after = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        ensure!(
            before.starts_with(&after),
            "the open changed {} other than by cutting its end",
            path.display()
        );
        (after.len(), before.len() - after.len())
    };
    let Some(truncated) = &recovery.truncated else {
        // Zeros after the last record hold nothing: cut without a report.
        ensure!(
            !short && before[offset..].iter().all(|&b| b == 0),
            "the open cut {cut} bytes of {} and reported none",
            path.display()
        );
        return Ok(());
    };
    ensure!(
        (cut > 0 && !before[offset..].iter().all(|&b| b == 0) || short)
            && truncated.file == *path
            && truncated.offset == offset as u64
            && truncated.bytes == cut as u64,
        "the open reports {truncated:?}, but cut {cut} bytes of {} at {offset}",
        path.display()
    );
    let cut_bytes = &before[offset..];
    match &truncated.kept {
        None => ensure!(
            cut_bytes.iter().all(|&b| b == 0) || short,
            "the cut bytes were not kept"
        ),
        Some(kept) => {
            let saved = std::fs::read(kept).map_err(|e| format!("{}: {e}", kept.display()))?;
            ensure!(
                saved == cut_bytes,
                "{} does not hold the bytes cut",
                kept.display()
            );
        }
    }
    Ok(())
}

/// Runs one case from scratch.
fn run_case(ops: &[Op], figures: &mut Figures) -> Checked {
    let mut run = Run::new()?;
    let outcome = run.run(ops);
    drop(run.store.take());
    figures.cases += run.figures.cases;
    figures.ops += run.figures.ops;
    figures.appends_acknowledged += run.figures.appends_acknowledged;
    figures.appends_refused += run.figures.appends_refused;
    figures.appends_failed += run.figures.appends_failed;
    figures.crashes += run.figures.crashes;
    figures.reopens += run.figures.reopens;
    figures.refused_opens += run.figures.refused_opens;
    figures.full_disk_opens += run.figures.full_disk_opens;
    figures.injected.add(&run.layer.injected());
    outcome
}

fn cases_from_env() -> u32 {
    std::env::var("DCB_FAULT_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000)
}

fn seed_from_env() -> [u8; 32] {
    if let Ok(hex) = std::env::var("DCB_FAULT_SEED") {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .filter_map(|i| {
                hex.get(i..i + 2)
                    .and_then(|b| u8::from_str_radix(b, 16).ok())
            })
            .collect();
        if let Ok(seed) = <[u8; 32]>::try_from(bytes) {
            return seed;
        }
        panic!("DCB_FAULT_SEED must be 64 hex digits, got {hex:?}");
    }
    let mut seed = [0; 32];
    seed[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    seed[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    seed
}

#[test]
fn random_faults() {
    let seed = seed_from_env();
    let hex = seed.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    let config = Config {
        cases: cases_from_env(),
        failure_persistence: None,
        max_shrink_iters: 10_000,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let figures = RefCell::new(Figures::default());
    let result = runner.run(&case(), |ops| {
        run_case(&ops, &mut figures.borrow_mut()).map_err(TestCaseError::fail)
    });
    let figures = figures.into_inner();
    eprintln!("faults: seed {hex}: {figures:#?}");
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, ops)) => panic!(
            "{reason}\nseed: DCB_FAULT_SEED={hex}\nshrunk case, to add to regressions.jsonl:\n{}",
            serde_json::to_string(&ops).expect("a case is JSON")
        ),
        Err(TestError::Abort(reason)) => panic!("aborted: {reason} (seed {hex})"),
    }
}

#[test]
fn regressions() {
    let mut figures = Figures::default();
    for (line, case) in REGRESSIONS.lines().enumerate() {
        let case = case.trim();
        if case.is_empty() || case.starts_with('#') {
            continue;
        }
        let ops: Vec<Op> = serde_json::from_str(case)
            .unwrap_or_else(|e| panic!("regressions.jsonl line {}: {e}", line + 1));
        if let Err(reason) = run_case(&ops, &mut figures) {
            panic!("regressions.jsonl line {}: {reason}", line + 1);
        }
    }
}
