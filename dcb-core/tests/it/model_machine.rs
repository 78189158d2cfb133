//! The model-based test of the stores: random operation sequences run on a
//! store and on the reference model (`conformance::ReferenceStore`), every
//! result compared (docs/spec.md §1; issue 24, items 1 and 6).
//!
//! An operation sequence ([`Op`]) mixes appends (types and tags from small
//! pools, so that conditions and queries meet), conditional appends (their
//! conditions built from earlier reads' heads, so some pass and some
//! fail), repeats of earlier appends with ids (as sent, or changed so that
//! they must fail), reads (forward, backwards, after, limit, collected or
//! streamed with the head checked at every step), heads, subscriptions
//! consumed a few events at a time across everything else, and reopening
//! the store (the embedded store is dropped and opened again from its
//! directory, the PostgreSQL store dropped and reconnected; subscriptions
//! resume from their checkpoints). After every reopen, and at the end,
//! the store must hold exactly the model's events: every acknowledged
//! append, nothing else.
//!
//! A store with gaps in its positions (PostgreSQL) is compared through a
//! map from the model's positions to the store's, learned from each
//! append's answer; a gap-free store must use the model's positions.
//! Gaps are made on purpose too ([`Op::Gap`]: the PostgreSQL target takes a
//! value of its position sequence, as an append rolled back late does),
//! and a repeat of events held across a gap is a duplicate id in such a
//! store, as the contract's "at consecutive positions" says (`Run::repeat`).
//!
//! The stores: `model_memory` and `model_embedded` here, and
//! `model_postgres` in `tests/tests/it/`, which includes this file.
//!
//! # Running longer
//!
//! Environment variables set the size of a run; the defaults keep CI
//! short:
//!
//! - `DCB_MODEL_CASES`: sequences per store (default: each store's own);
//! - `DCB_MODEL_OPS`: the most operations in one sequence (default 40);
//! - `DCB_MODEL_SEED`: the run's seed (hex); without it each run draws
//!   one.
//!
//! A soak run of a few minutes (the figures print with `--nocapture`):
//!
//! ```text
//! DCB_MODEL_CASES=5000 DCB_MODEL_OPS=80 cargo test -p dcb-core --test it -- model_memory:: model_embedded:: --nocapture
//! DCB_MODEL_CASES=1000 DCB_MODEL_OPS=80 cargo test -p dcb-tests --test it -- model_postgres:: --nocapture
//! ```
//!
//! # When it fails
//!
//! The failure names the run's seed (`DCB_MODEL_SEED=…` reruns it) and
//! the minimal sequence the failure shrank to (proptest's shrinking, then
//! [`without_bystanders`]), printed as the Rust that builds it. To commit
//! it as a regression case, in one step: paste the printed entry into
//! [`regressions`] below. Every store's module replays every entry there
//! (`regression_cases_pass_on_…`), whatever the strategies become.
//! proptest also records the failing case's seed in the
//! `.proptest-regressions` file beside the store's module; commit that
//! file too: its seeds run first on every run, for as long as the
//! strategies generate the same sequences from them.

use std::fmt::{self, Debug, Formatter};
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};

use dcb_core::conformance::{ReferenceEvents, ReferenceStore};
use dcb_core::{
    AppendCondition, AppendError, EventRecord, EventStore, EventStream, EventType, InvalidInput,
    Position, Query, QueryItem, ReadError, ReadOptions, SequencedEvent, Subscription, Tag, Uuid,
};
use futures_util::StreamExt;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestError, TestRng, TestRunner,
};

/// The event types events are drawn from.
const TYPES: [&str; 3] = ["T0", "T1", "T2"];
/// The tags events are drawn from: few, so that queries and conditions
/// meet the events often.
const TAGS: [&str; 5] = ["a:0", "a:1", "a:2", "b:0", "b:1"];
/// How many subscriptions a sequence keeps open at most.
const SLOTS: u8 = 2;

// ---------------------------------------------------------------------------
// The operations
// ---------------------------------------------------------------------------

/// An event: indexes into [`TYPES`] and [`TAGS`] (in any order, possibly
/// repeated, as a caller might give them), and one byte of data. Its id,
/// if any, is given when it is appended.
#[derive(Clone, PartialEq, Eq)]
pub struct Ev {
    pub ty: u8,
    pub tags: Vec<u8>,
    pub data: u8,
}

/// An [`Ev`]; the form failures print.
pub fn ev(ty: u8, tags: &[u8], data: u8) -> Ev {
    Ev {
        ty,
        tags: tags.to_vec(),
        data,
    }
}

/// A query item: any of `types` (any type when empty), all of `tags`.
#[derive(Clone, PartialEq, Eq)]
pub struct Item {
    pub types: Vec<u8>,
    pub tags: Vec<u8>,
}

/// An [`Item`]; the form failures print.
pub fn item(types: &[u8], tags: &[u8]) -> Item {
    Item {
        types: types.to_vec(),
        tags: tags.to_vec(),
    }
}

/// Which events of an append carry fresh ids.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    None,
    Every,
    /// The first, third, … event: an append of which some events have ids.
    Alternate,
}

/// Where a position (a read's or a subscription's `after`, a condition's)
/// comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum After {
    Start,
    /// This position of the model, wherever the store has it.
    At(u8),
    /// The head of an earlier read: the `n % reads`-th counting back
    /// from the latest (0).
    ReadHead(u8),
    /// The head now.
    StoreHead,
}

/// An append's condition.
#[derive(Clone, PartialEq, Eq)]
pub enum Cond {
    Unconditional,
    Fresh(Vec<Item>, After),
    /// The query and head of an earlier read: the `n % reads`-th
    /// counting back from the latest (0).
    EarlierRead(u8),
    /// The query and head of the latest read: a decision's append.
    LatestRead,
}

/// How a repeat changes the events of the earlier append it repeats.
#[derive(Clone, PartialEq, Eq)]
pub enum Change {
    Same,
    /// Only its first `1 + n % len` events: a repeat too.
    Prefix(u8),
    /// Without its first `n % len` events: a repeat too.
    Suffix(u8),
    /// Other data in its `n % len`-th event: a duplicate id.
    OtherData(u8),
    /// Its `n % len`-th event without its id: a duplicate id.
    DropId(u8),
    /// With one more event with a fresh id: a duplicate id.
    AddFresh,
    /// In reverse order: a duplicate id, unless it has one event.
    Reverse,
    /// Its first event again at the end: an id twice in one append.
    RepeatFirst,
    /// Followed by the events of the next append with ids: a repeat when
    /// both were stored back to back, otherwise a duplicate id.
    WithNext,
}

/// One step of a sequence.
#[derive(Clone, PartialEq, Eq)]
pub enum Op {
    /// New events (none: invalid input).
    Append {
        events: Vec<Ev>,
        ids: Ids,
        condition: Cond,
    },
    /// The `which % appends`-th earlier append whose events all had ids,
    /// counting back from the latest (0),
    /// again.
    Repeat {
        which: u8,
        change: Change,
        condition: Cond,
    },
    /// A read (a limit of 0 is invalid input), collected or consumed as a
    /// stream with its head checked after every event.
    Read {
        query: Vec<Item>,
        after: After,
        limit: Option<u8>,
        backwards: bool,
        streamed: bool,
    },
    Head,
    /// Opens (or replaces) the subscription in `slot % SLOTS`, reading
    /// `batch` events at a time.
    Subscribe {
        slot: u8,
        query: Vec<Item>,
        after: After,
        batch: u8,
    },
    /// Takes up to `count` events from the subscription in `slot % SLOTS`
    /// without waiting (`try_next`).
    Pull {
        slot: u8,
        count: u8,
    },
    /// Closes the store and opens it again.
    Reopen,
    /// Leaves a gap in the store's positions, as a failed append may (for
    /// a store with gaps; nothing for a gap-free one).
    Gap,
}

// ---------------------------------------------------------------------------
// Printing operations as Rust, so that a failure can be pasted as a case
// ---------------------------------------------------------------------------

/// A list printed as `vec![…]`.
struct VecOf<'a, T>(&'a [T]);

impl<T: Debug> Debug for VecOf<'_, T> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("vec!")?;
        f.debug_list().entries(self.0).finish()
    }
}

impl Debug for Ev {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "ev({}, &{:?}, {})", self.ty, self.tags, self.data)
    }
}

impl Debug for Item {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "item(&{:?}, &{:?})", self.types, self.tags)
    }
}

impl Debug for Ids {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ids::None => "Ids::None",
            Ids::Every => "Ids::Every",
            Ids::Alternate => "Ids::Alternate",
        })
    }
}

impl Debug for After {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            After::Start => f.write_str("After::Start"),
            After::At(n) => write!(f, "After::At({n})"),
            After::ReadHead(n) => write!(f, "After::ReadHead({n})"),
            After::StoreHead => f.write_str("After::StoreHead"),
        }
    }
}

impl Debug for Cond {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Cond::Unconditional => f.write_str("Cond::Unconditional"),
            Cond::Fresh(query, after) => write!(f, "Cond::Fresh({:?}, {after:?})", VecOf(query)),
            Cond::EarlierRead(n) => write!(f, "Cond::EarlierRead({n})"),
            Cond::LatestRead => f.write_str("Cond::LatestRead"),
        }
    }
}

impl Debug for Change {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Change::Same => f.write_str("Change::Same"),
            Change::Prefix(n) => write!(f, "Change::Prefix({n})"),
            Change::Suffix(n) => write!(f, "Change::Suffix({n})"),
            Change::OtherData(n) => write!(f, "Change::OtherData({n})"),
            Change::DropId(n) => write!(f, "Change::DropId({n})"),
            Change::AddFresh => f.write_str("Change::AddFresh"),
            Change::Reverse => f.write_str("Change::Reverse"),
            Change::RepeatFirst => f.write_str("Change::RepeatFirst"),
            Change::WithNext => f.write_str("Change::WithNext"),
        }
    }
}

impl Debug for Op {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Op::Append {
                events,
                ids,
                condition,
            } => write!(
                f,
                "Op::Append {{ events: {:?}, ids: {ids:?}, condition: {condition:?} }}",
                VecOf(events)
            ),
            Op::Repeat {
                which,
                change,
                condition,
            } => write!(
                f,
                "Op::Repeat {{ which: {which}, change: {change:?}, condition: {condition:?} }}"
            ),
            Op::Read {
                query,
                after,
                limit,
                backwards,
                streamed,
            } => write!(
                f,
                "Op::Read {{ query: {:?}, after: {after:?}, limit: {limit:?}, \
                 backwards: {backwards}, streamed: {streamed} }}",
                VecOf(query)
            ),
            Op::Head => f.write_str("Op::Head"),
            Op::Subscribe {
                slot,
                query,
                after,
                batch,
            } => write!(
                f,
                "Op::Subscribe {{ slot: {slot}, query: {:?}, after: {after:?}, batch: {batch} }}",
                VecOf(query)
            ),
            Op::Pull { slot, count } => write!(f, "Op::Pull {{ slot: {slot}, count: {count} }}"),
            Op::Reopen => f.write_str("Op::Reopen"),
            Op::Gap => f.write_str("Op::Gap"),
        }
    }
}

// ---------------------------------------------------------------------------
// Regression cases
// ---------------------------------------------------------------------------

/// Sequences that once failed, each with what it found: every store's
/// module replays all of them. Paste a failure's printed entry here.
pub fn regressions() -> Vec<(&'static str, Vec<Op>)> {
    vec![(
        // The first found, on the PostgreSQL store: the repeat of two
        // appends stored back to back across a gap in the positions is
        // refused with a duplicate id. The contract says a repeat's events
        // are stored "at consecutive positions", which the machine now
        // reads literally for a store with gaps (`Run::repeat`).
        "PostgreSQL: a repeat of two appends stored back to back across a gap",
        vec![
            Op::Append {
                events: vec![ev(0, &[], 0)],
                ids: Ids::Every,
                condition: Cond::Unconditional,
            },
            Op::Gap,
            Op::Append {
                events: vec![ev(0, &[], 0)],
                ids: Ids::Every,
                condition: Cond::Unconditional,
            },
            Op::Repeat {
                which: 1,
                change: Change::WithNext,
                condition: Cond::Unconditional,
            },
        ],
    )]
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// Upper bounds drawn from: small, so that shrinking ends at small values.
fn index() -> impl Strategy<Value = u8> {
    0u8..16
}

fn ev_strategy() -> impl Strategy<Value = Ev> {
    (0..3u8, vec(0..5u8, 0..=2), 0..2u8).prop_map(|(ty, tags, data)| Ev { ty, tags, data })
}

fn query_strategy() -> impl Strategy<Value = Vec<Item>> {
    let item =
        (vec(0..3u8, 0..=2), vec(0..5u8, 0..=2)).prop_map(|(types, tags)| Item { types, tags });
    vec(item, 0..=2)
}

fn after_strategy() -> impl Strategy<Value = After> {
    prop_oneof![
        3 => Just(After::Start),
        2 => (0..30u8).prop_map(After::At),
        3 => index().prop_map(After::ReadHead),
        1 => Just(After::StoreHead),
    ]
}

fn cond_strategy() -> impl Strategy<Value = Cond> {
    prop_oneof![
        3 => Just(Cond::Unconditional),
        2 => (query_strategy(), after_strategy()).prop_map(|(q, a)| Cond::Fresh(q, a)),
        2 => index().prop_map(Cond::EarlierRead),
        4 => Just(Cond::LatestRead),
    ]
}

fn change_strategy() -> impl Strategy<Value = Change> {
    prop_oneof![
        6 => Just(Change::Same),
        1 => index().prop_map(Change::Prefix),
        1 => index().prop_map(Change::Suffix),
        1 => index().prop_map(Change::OtherData),
        1 => index().prop_map(Change::DropId),
        1 => Just(Change::AddFresh),
        1 => Just(Change::Reverse),
        1 => Just(Change::RepeatFirst),
        2 => Just(Change::WithNext),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let events = prop_oneof![1 => Just(Vec::new()), 20 => vec(ev_strategy(), 1..=3)];
    let ids = prop_oneof![
        2 => Just(Ids::None),
        3 => Just(Ids::Every),
        1 => Just(Ids::Alternate),
    ];
    let limit = prop_oneof![4 => Just(None), 5 => (1..=5u8).prop_map(Some), 1 => Just(Some(0))];
    prop_oneof![
        8 => (events, ids, cond_strategy())
            .prop_map(|(events, ids, condition)| Op::Append { events, ids, condition }),
        3 => (index(), change_strategy(), cond_strategy())
            .prop_map(|(which, change, condition)| Op::Repeat { which, change, condition }),
        5 => (query_strategy(), after_strategy(), limit, any::<bool>(), any::<bool>())
            .prop_map(|(query, after, limit, backwards, streamed)| Op::Read {
                query, after, limit, backwards, streamed,
            }),
        1 => Just(Op::Head),
        2 => (0..SLOTS, query_strategy(), after_strategy(), 1..=4u8)
            .prop_map(|(slot, query, after, batch)| Op::Subscribe { slot, query, after, batch }),
        4 => (0..SLOTS, 1..=6u8).prop_map(|(slot, count)| Op::Pull { slot, count }),
        1 => Just(Op::Reopen),
        1 => Just(Op::Gap),
    ]
}

// ---------------------------------------------------------------------------
// The stores under test
// ---------------------------------------------------------------------------

/// A store the sequences run on: where a sequence's store lives, and how
/// it is opened there, first and after each [`Op::Reopen`].
pub trait Target {
    type Store: EventStore + Clone + 'static;
    /// What holds a sequence's store between openings (a directory, a
    /// schema) and cleans up when dropped.
    type Place;

    /// The store's name in failures.
    fn name(&self) -> &'static str;
    /// Whether the store promises gap-free positions.
    fn gap_free(&self) -> bool;
    /// A new place with no events.
    fn place(&self) -> impl Future<Output = Self::Place>;
    /// Opens the store at `place`; the store opened before is dropped.
    fn open(&self, place: &Self::Place) -> impl Future<Output = Self::Store>;
    /// Takes the next position of the store at `place` without storing an
    /// event there, as an append that fails late does in a store with
    /// gaps. A gap-free store does nothing.
    fn leave_gap(&self, place: &Self::Place) -> impl Future<Output = ()> {
        let _ = place;
        async {}
    }
}

/// How large a run is; see the module documentation.
struct Settings {
    cases: u32,
    max_ops: usize,
    seed: u64,
}

impl Settings {
    fn from_env(default_cases: u32) -> Settings {
        let number = |name: &str| {
            std::env::var(name).ok().map(|v| {
                v.parse::<u64>()
                    .unwrap_or_else(|e| panic!("{name}={v}: {e}"))
            })
        };
        let seed = std::env::var("DCB_MODEL_SEED").map_or_else(
            |_| fresh_seed(),
            |v| {
                u64::from_str_radix(v.trim_start_matches("0x"), 16)
                    .unwrap_or_else(|e| panic!("DCB_MODEL_SEED={v} (hex): {e}"))
            },
        );
        Settings {
            cases: number("DCB_MODEL_CASES").map_or(default_cases, |n| {
                u32::try_from(n).expect("DCB_MODEL_CASES fits in 32 bits")
            }),
            max_ops: number("DCB_MODEL_OPS").map_or(40, |n| {
                usize::try_from(n).expect("DCB_MODEL_OPS fits in usize")
            }),
            seed,
        }
    }
}

/// A seed nobody chose: the standard library's per-process hash keys.
fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    hasher.finish()
}

/// What a run did, for the figures it prints.
#[derive(Default)]
struct Tally {
    cases: AtomicU64,
    ops: AtomicU64,
    appends: AtomicU64,
    written: AtomicU64,
    repeats: AtomicU64,
    conflicts: AtomicU64,
    duplicates: AtomicU64,
    invalid: AtomicU64,
    reads: AtomicU64,
    delivered: AtomicU64,
    reopens: AtomicU64,
}

impl Tally {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn report(&self) -> String {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        format!(
            "{} sequences, {} operations: {} appends ({} written, {} repeats answered with \
             the original position, {} failed conditions, {} duplicate ids, {} invalid \
             inputs), {} reads, {} events delivered by subscriptions, {} reopens; \
             0 differences from the model",
            get(&self.cases),
            get(&self.ops),
            get(&self.appends),
            get(&self.written),
            get(&self.repeats),
            get(&self.conflicts),
            get(&self.duplicates),
            get(&self.invalid),
            get(&self.reads),
            get(&self.delivered),
            get(&self.reopens),
        )
    }
}

/// Runs `DCB_MODEL_CASES` (or `default_cases`) random sequences on
/// `target` and on the model, and panics with the seed and the shrunk
/// sequence at the first difference. `source_file` (the caller's
/// `file!()`) names the `.proptest-regressions` file beside it.
pub fn check<T: Target>(target: &T, source_file: &'static str, default_cases: u32) {
    let settings = Settings::from_env(default_cases);
    let runtime = runtime();
    let tally = Tally::default();
    let config = Config {
        cases: settings.cases,
        // proptest's default, four times the cases, leaves a failure found
        // in a short run half shrunk. A sequence shrinks in a few hundred
        // runs; the time bounds a slow store's.
        max_shrink_iters: 4096,
        max_shrink_time: 300_000,
        source_file: Some(source_file),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    };
    let mut seed = [0u8; 32];
    for chunk in seed.chunks_mut(8) {
        chunk.copy_from_slice(&settings.seed.to_le_bytes());
    }
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let result = runner.run(&vec(op_strategy(), 1..=settings.max_ops), |ops| {
        runtime
            .block_on(run(target, &ops, &tally))
            .map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => eprintln!(
            "model test of the {} store (DCB_MODEL_SEED={:x}): {}",
            target.name(),
            settings.seed,
            tally.report()
        ),
        Err(TestError::Fail(reason, ops)) => {
            let (reason, ops) =
                runtime.block_on(without_bystanders(target, reason.to_string(), ops));
            panic!("{}", failure(target.name(), settings.seed, &reason, &ops))
        }
        Err(TestError::Abort(reason)) => panic!("the model test gave up: {reason}"),
    }
}

/// Removes the operations a failing sequence fails without, one at a
/// time, until none can go. proptest removes operations before it
/// simplifies them, so one it made a bystander (an append it emptied) is
/// left in.
async fn without_bystanders<T: Target>(
    target: &T,
    mut reason: String,
    mut ops: Vec<Op>,
) -> (String, Vec<Op>) {
    let tally = Tally::default();
    let mut i = 0;
    while i < ops.len() {
        let mut fewer = ops.clone();
        fewer.remove(i);
        match run(target, &fewer, &tally).await {
            Err(still) => (reason, ops) = (still, fewer),
            Ok(()) => i += 1,
        }
    }
    (reason, ops)
}

/// Replays every sequence of [`regressions`] on `target`.
pub fn check_regressions<T: Target>(target: &T) {
    let runtime = runtime();
    let tally = Tally::default();
    for (found, ops) in regressions() {
        if let Err(reason) = runtime.block_on(run(target, &ops, &tally)) {
            panic!(
                "regression case ({found}) fails again on the {} store: {reason}",
                target.name()
            );
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// The failure message: the seed, why, and the sequence as a case for
/// [`regressions`].
fn failure(store: &str, seed: u64, reason: &impl fmt::Display, ops: &[Op]) -> String {
    use std::fmt::Write as _;
    let mut case = String::new();
    for op in ops {
        let _ = writeln!(case, "                {op:?},");
    }
    // The description: the reason's first line, cut short.
    let reason_text = reason.to_string();
    let first_line = reason_text.lines().next().unwrap_or_default();
    let first_line = match first_line.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &first_line[..cut]),
        None => first_line.to_owned(),
    };
    format!(
        "the {store} store differs from the model: {reason}\n\n\
         seed: DCB_MODEL_SEED={seed:x} reruns this run (after the seeds of past failures in \
         the .proptest-regressions file beside the store's module, which run first).\n\
         minimal sequence: {n} operations. To keep it as a regression case, paste this entry \
         into `regressions()` in dcb-core/tests/it/model_machine.rs:\n\n        \
         (\n            {found:?},\n            vec![\n{case}            ],\n        ),\n",
        n = ops.len(),
        found = format!("{store}, seed {seed:x}: {first_line}"),
    )
}

// ---------------------------------------------------------------------------
// One sequence
// ---------------------------------------------------------------------------

/// An append's answer, with the store's positions mapped to the model's.
#[derive(Debug, PartialEq, Eq)]
enum Appended {
    At(Position),
    ConditionFailed(Position),
    DuplicateEventId { id: Uuid, position: Position },
    InvalidInput(InvalidInput),
    Failed(String),
}

impl Appended {
    /// An append's answer, its positions mapped by `to_model`.
    fn of(
        result: Result<Position, AppendError>,
        to_model: impl Fn(Position) -> Result<Position, String>,
    ) -> Result<Appended, String> {
        Ok(match result {
            Ok(position) => Appended::At(to_model(position)?),
            Err(AppendError::ConditionFailed { conflicting }) => {
                Appended::ConditionFailed(to_model(conflicting)?)
            }
            Err(AppendError::DuplicateEventId { id, position }) => Appended::DuplicateEventId {
                id,
                position: to_model(position)?,
            },
            Err(AppendError::InvalidInput(invalid)) => Appended::InvalidInput(invalid),
            Err(other) => Appended::Failed(other.to_string()),
        })
    }
}

/// One open subscription, on the store and on the model.
struct Following<S: EventStore> {
    query: Query,
    batch: NonZeroUsize,
    store: Subscription<S>,
    model: Subscription<ReferenceStore>,
}

/// The state of one sequence.
///
/// Fields drop in order: the subscriptions and the store (which they
/// hold clones of) before the place they live in.
struct Run<'a, T: Target> {
    target: &'a T,
    tally: &'a Tally,
    following: Vec<Option<Following<T::Store>>>,
    store: Option<T::Store>,
    place: T::Place,
    model: ReferenceStore,
    /// Where the store holds the model's events: the model's event at
    /// position `n` is at `positions[n - 1]` in the store.
    positions: Vec<Position>,
    last_id: u128,
    /// The query and head (the model's) of each successful read.
    reads: Vec<(Query, Option<Position>)>,
    /// Every append sent whose events all carried ids.
    with_ids: Vec<Vec<EventRecord>>,
}

/// Runs `ops` on a new store of `target` and on a new model.
async fn run<T: Target>(target: &T, ops: &[Op], tally: &Tally) -> Result<(), String> {
    let place = target.place().await;
    let store = target.open(&place).await;
    let mut run = Run {
        target,
        tally,
        place,
        store: Some(store),
        model: ReferenceStore::new(),
        positions: Vec::new(),
        last_id: 0,
        reads: Vec::new(),
        with_ids: Vec::new(),
        following: (0..SLOTS).map(|_| None).collect(),
    };
    Tally::add(&tally.cases, 1);
    for (step, op) in ops.iter().enumerate() {
        Tally::add(&tally.ops, 1);
        run.apply(op)
            .await
            .map_err(|why| format!("operation {step}: {why}\n(the operation: {op:?})"))?;
    }
    run.same_events()
        .await
        .map_err(|why| format!("at the end: {why}"))?;
    run.reopen()
        .await
        .map_err(|why| format!("reopened at the end: {why}"))
}

impl<T: Target> Run<'_, T> {
    fn store(&self) -> &T::Store {
        self.store
            .as_ref()
            .expect("the store is open between operations")
    }

    async fn apply(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::Append {
                events,
                ids,
                condition,
            } => {
                let events = self.with_fresh_ids(events, *ids);
                let condition = self.condition(condition);
                self.append(events, condition).await
            }
            Op::Repeat {
                which,
                change,
                condition,
            } => {
                let Some(which) = back(self.with_ids.len(), *which) else {
                    return Ok(());
                };
                let events = self.change(which, change);
                let condition = self.condition(condition);
                self.append(events, condition).await
            }
            Op::Read {
                query,
                after,
                limit,
                backwards,
                streamed,
            } => {
                let options = ReadOptions {
                    after: self.after(after),
                    limit: limit.map(usize::from),
                    backwards: *backwards,
                };
                self.read(to_query(query), options, *streamed).await
            }
            Op::Head => self.same_head().await,
            Op::Subscribe {
                slot,
                query,
                after,
                batch,
            } => {
                // A subscription after the model's head would, on a store
                // with gaps, start after a position the map cannot place.
                let after = self.after(after).min(self.model.head_now());
                let batch = NonZeroUsize::new(usize::from(*batch)).unwrap_or(NonZeroUsize::MIN);
                let following = self.subscribe(to_query(query), after, batch);
                self.following[usize::from(slot % SLOTS)] = Some(following);
                Ok(())
            }
            Op::Pull { slot, count } => self.pull(usize::from(slot % SLOTS), *count).await,
            Op::Reopen => self.reopen().await,
            Op::Gap => {
                self.target.leave_gap(&self.place).await;
                Ok(())
            }
        }
    }

    fn with_fresh_ids(&mut self, events: &[Ev], ids: Ids) -> Vec<EventRecord> {
        let events: Vec<EventRecord> = events
            .iter()
            .enumerate()
            .map(|(i, ev)| {
                let event = to_event(ev);
                if ids == Ids::Every || ids == Ids::Alternate && i % 2 == 0 {
                    self.last_id += 1;
                    event.with_id(Uuid::from_u128(self.last_id))
                } else {
                    event
                }
            })
            .collect();
        if !events.is_empty() && events.iter().all(|e| e.id().is_some()) {
            self.with_ids.push(events.clone());
        }
        events
    }

    /// The events of the `which`-th append with ids, changed.
    fn change(&mut self, which: usize, change: &Change) -> Vec<EventRecord> {
        let mut events = self.with_ids[which].clone();
        let n = events.len();
        let at = |i: &u8| usize::from(*i) % n;
        match change {
            Change::Same => {}
            Change::Prefix(i) => events.truncate(at(i) + 1),
            Change::Suffix(i) => drop(events.drain(..at(i))),
            Change::OtherData(i) => {
                let (ty, data, tags, id) = events[at(i)].clone().into_parts();
                let mut data = data.to_vec();
                data.push(b'!');
                let mut changed = EventRecord::new(ty, data).with_tags(tags);
                if let Some(id) = id {
                    changed = changed.with_id(id);
                }
                events[at(i)] = changed;
            }
            Change::DropId(i) => {
                let (ty, data, tags, _) = events[at(i)].clone().into_parts();
                events[at(i)] = EventRecord::new(ty, data).with_tags(tags);
            }
            Change::AddFresh => {
                self.last_id += 1;
                let fresh = events[0].clone().with_id(Uuid::from_u128(self.last_id));
                events.push(fresh);
            }
            Change::Reverse => events.reverse(),
            Change::RepeatFirst => events.push(events[0].clone()),
            Change::WithNext => {
                if let Some(next) = self.with_ids.get(which + 1) {
                    events.extend(next.iter().cloned());
                }
            }
        }
        events
    }

    /// The model's position for `after`.
    fn after(&self, after: &After) -> Option<Position> {
        match after {
            After::Start => None,
            After::At(n) => Position::new(u64::from(*n)),
            After::ReadHead(i) => pick(&self.reads, *i).and_then(|(_, head)| *head),
            After::StoreHead => self.model.head_now(),
        }
    }

    /// The condition in the model's positions.
    fn condition(&self, condition: &Cond) -> Option<AppendCondition> {
        let read = |read: Option<&(Query, Option<Position>)>| {
            // Before any read, a decision that saw nothing.
            let (query, head) = read.cloned().unwrap_or((Query::all(), None));
            AppendCondition::new(query).after(head)
        };
        match condition {
            Cond::Unconditional => None,
            Cond::Fresh(query, after) => {
                Some(AppendCondition::new(to_query(query)).after(self.after(after)))
            }
            Cond::EarlierRead(i) => Some(read(pick(&self.reads, *i))),
            Cond::LatestRead => Some(read(self.reads.last())),
        }
    }

    /// The store's position for the model's `position`: beyond the model's
    /// head, as far beyond the store's.
    fn to_store(&self, position: Option<Position>) -> Option<Position> {
        let n = usize::try_from(position?.get()).expect("a small position");
        if let Some(&stored) = self.positions.get(n - 1) {
            return Some(stored);
        }
        let last = self.positions.last().map_or(0, |p| p.get());
        Position::new(last + (n - self.positions.len()) as u64)
    }

    /// The model's position for the store's `position`, which must hold one
    /// of the model's events (or lie beyond the last).
    fn to_model(&self, position: Position) -> Result<Position, String> {
        let last = self.positions.last().map_or(0, |p| p.get());
        let index = if position.get() > last {
            self.positions.len() + usize::try_from(position.get() - last).expect("small")
        } else {
            1 + self.positions.binary_search(&position).map_err(|_| {
                format!("the store answered position {position}, which holds none of its events")
            })?
        };
        Ok(Position::new(index as u64).expect("positive"))
    }

    fn to_model_head(&self, head: Option<Position>) -> Result<Option<Position>, String> {
        head.map(|p| self.to_model(p)).transpose()
    }

    /// The store's `event` as the model would hold it: at the model's
    /// position, without its recorded time, which no two stores share (the
    /// conformance suite checks times).
    fn to_model_event(&self, event: SequencedEvent) -> Result<SequencedEvent, String> {
        if event.recorded_at.is_none() {
            return Err(format!("the store gave {event:?} without a recorded time"));
        }
        Ok(SequencedEvent::new(
            self.to_model(event.position)?,
            event.event,
        ))
    }

    fn store_condition(&self, condition: Option<&AppendCondition>) -> Option<AppendCondition> {
        condition.map(|c| c.clone().after(self.to_store(c.after)))
    }

    async fn append(
        &mut self,
        events: Vec<EventRecord>,
        condition: Option<AppendCondition>,
    ) -> Result<(), String> {
        Tally::add(&self.tally.appends, 1);
        let count = events.len();
        let before = self.model.len();
        let expected = self.model.append_now(events.clone(), condition.as_ref());
        let written = self.model.len() > before;
        let condition = self.store_condition(condition.as_ref());
        let actual = self.store().append(events.clone(), condition).await;
        if written && let Ok(last) = actual {
            let first = (last.get() + 1).saturating_sub(count as u64);
            if first == 0 || self.positions.last().is_some_and(|p| p.get() >= first) {
                return Err(format!(
                    "the store wrote at {first}..={last}, not after its last event"
                ));
            }
            self.positions
                .extend((first..=last.get()).filter_map(Position::new));
        }
        if self.target.gap_free() {
            check_gap_free(&self.positions)?;
        }
        let actual = Appended::of(actual, |p| self.to_model(p))?;
        let expected = match Appended::of(expected, Ok)? {
            Appended::At(last) if !written => self.repeat(&events, last),
            expected => expected,
        };
        if actual != expected {
            return Err(format!(
                "the append of {events:?} answered {actual:?}, the model {expected:?}"
            ));
        }
        Tally::add(
            match expected {
                Appended::At(_) if written => &self.tally.written,
                Appended::At(_) => &self.tally.repeats,
                Appended::ConditionFailed(_) => &self.tally.conflicts,
                Appended::DuplicateEventId { .. } => &self.tally.duplicates,
                Appended::InvalidInput(_) | Appended::Failed(_) => &self.tally.invalid,
            },
            1,
        );
        self.same_head().await
    }

    /// The answer to a repeat of the model's events up to `last`: the
    /// contract (docs/spec.md §1.7) recognises a repeat of events stored
    /// "at consecutive positions", so in a store with gaps, a repeat of two
    /// appends stored back to back across a gap is a duplicate id (the
    /// first event's) there. (The PostgreSQL store answers so; the gap-free
    /// model cannot tell.)
    fn repeat(&self, events: &[EventRecord], last: Position) -> Appended {
        let last_index = usize::try_from(last.get()).expect("a small position");
        let stored = &self.positions[last_index - events.len()..last_index];
        if stored
            .windows(2)
            .all(|pair| pair[0].next() == Some(pair[1]))
        {
            return Appended::At(last);
        }
        Appended::DuplicateEventId {
            id: events[0].id().expect("a repeat's events have ids"),
            position: Position::new(last.get() + 1 - events.len() as u64).expect("positive"),
        }
    }

    async fn same_head(&self) -> Result<(), String> {
        let head = self
            .store()
            .head()
            .await
            .map_err(|e| format!("head failed: {e}"))?;
        let head = self.to_model_head(head)?;
        if head != self.model.head_now() {
            return Err(format!(
                "head() is {head:?}, the model's {:?}",
                self.model.head_now()
            ));
        }
        Ok(())
    }

    async fn read(
        &mut self,
        query: Query,
        options: ReadOptions,
        streamed: bool,
    ) -> Result<(), String> {
        Tally::add(&self.tally.reads, 1);
        let model = self.model.read_now(&query, options);
        let store_options = ReadOptions {
            after: self.to_store(options.after),
            ..options
        };
        let store = self.store().read(&query, store_options).await;
        let (mut store, mut model) = match (store, model) {
            (Ok(store), Ok(model)) => (store, model),
            (Err(ReadError::InvalidInput(store)), Err(ReadError::InvalidInput(model)))
                if store == model =>
            {
                return Ok(());
            }
            (store, model) => {
                return Err(format!(
                    "the read of {query:?} with {options:?} answered {:?}, the model {:?}",
                    store.err(),
                    model.err()
                ));
            }
        };
        let context = || format!("the read of {query:?} with {options:?}");
        let mut step = 0;
        loop {
            let actual = store.next().await;
            let expected = model.next().await;
            let actual = match actual {
                Some(Ok(event)) => Some(self.to_model_event(event)?),
                Some(Err(e)) => return Err(format!("{} failed: {e}", context())),
                None => None,
            };
            let expected = expected.map(|e| untimed(e.expect("the model reads")));
            if actual != expected {
                return Err(format!(
                    "{}, event {step}: the store gave {actual:?}, the model {expected:?}",
                    context()
                ));
            }
            if streamed || actual.is_none() {
                self.same_stream_head(&store, &model, step, &context())?;
            }
            if actual.is_none() {
                break;
            }
            step += 1;
        }
        self.reads.push((query, model.head()));
        Ok(())
    }

    fn same_stream_head(
        &self,
        store: &<T::Store as EventStore>::Stream,
        model: &ReferenceEvents,
        step: usize,
        context: &str,
    ) -> Result<(), String> {
        let head = self.to_model_head(store.head())?;
        if head != model.head() {
            return Err(format!(
                "{context}, after {step} events: the stream's head is {head:?}, the model's {:?}",
                model.head()
            ));
        }
        Ok(())
    }
    fn subscribe(
        &self,
        query: Query,
        after: Option<Position>,
        batch: NonZeroUsize,
    ) -> Following<T::Store> {
        Following {
            store: self
                .store()
                .subscribe(query.clone(), self.to_store(after))
                .batch_size(batch),
            model: self.model.subscribe(query.clone(), after).batch_size(batch),
            query,
            batch,
        }
    }

    async fn pull(&mut self, slot: usize, count: u8) -> Result<(), String> {
        let Some(mut following) = self.following[slot].take() else {
            return Ok(());
        };
        for step in 0..count {
            let actual = following
                .store
                .try_next()
                .await
                .map_err(|e| format!("the subscription failed: {e}"))?;
            let actual = actual.map(|e| self.to_model_event(e)).transpose()?;
            let expected = following
                .model
                .try_next()
                .await
                .expect("the model reads")
                .map(untimed);
            let context = || format!("subscription {slot} to {:?}, pull {step}", following.query);
            if actual != expected {
                return Err(format!(
                    "{}: the store gave {actual:?}, the model {expected:?}",
                    context()
                ));
            }
            self.same_checkpoint(&following)
                .map_err(|why| format!("{}: {why}", context()))?;
            let caught_up = (
                following.store.is_caught_up(),
                following.model.is_caught_up(),
            );
            if caught_up.0 != caught_up.1 {
                return Err(format!(
                    "{}: the store's is_caught_up() is {}, the model's {}",
                    context(),
                    caught_up.0,
                    caught_up.1
                ));
            }
            if actual.is_some() {
                Tally::add(&self.tally.delivered, 1);
            }
        }
        self.following[slot] = Some(following);
        Ok(())
    }

    /// Compares the subscriptions' checkpoints, and returns the model's.
    fn same_checkpoint(&self, following: &Following<T::Store>) -> Result<Option<Position>, String> {
        let actual = self.to_model_head(following.store.position())?;
        let expected = following.model.position();
        if actual != expected {
            return Err(format!(
                "the subscription's position() is {actual:?}, the model's {expected:?}"
            ));
        }
        Ok(expected)
    }

    /// Closes the store and opens it again; the subscriptions resume from
    /// their checkpoints.
    async fn reopen(&mut self) -> Result<(), String> {
        Tally::add(&self.tally.reopens, 1);
        let mut resumed = Vec::new();
        let open = std::mem::take(&mut self.following);
        self.following = (0..SLOTS).map(|_| None).collect();
        for (slot, following) in open.into_iter().enumerate() {
            if let Some(following) = following {
                let checkpoint = self
                    .same_checkpoint(&following)
                    .map_err(|why| format!("subscription {slot}: {why}"))?;
                resumed.push((slot, following.query, following.batch, checkpoint));
            }
        }
        // Every clone of the store is gone (the subscriptions held some):
        // the store closes here.
        self.store = None;
        self.store = Some(self.target.open(&self.place).await);
        for (slot, query, batch, checkpoint) in resumed {
            self.following[slot] = Some(self.subscribe(query, checkpoint, batch));
        }
        self.same_events().await
    }

    /// The store holds exactly the model's events: every acknowledged
    /// append, nothing else.
    async fn same_events(&self) -> Result<(), String> {
        let actual = self
            .store()
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .map_err(|e| format!("reading everything failed: {e}"))?;
        let events = actual
            .events
            .into_iter()
            .map(|e| self.to_model_event(e))
            .collect::<Result<Vec<_>, _>>()?;
        let head = self.to_model_head(actual.head)?;
        let expected = self
            .model
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .expect("the model reads");
        let expected_events: Vec<SequencedEvent> =
            expected.events.iter().cloned().map(untimed).collect();
        if events != expected_events || head != expected.head {
            return Err(format!(
                "the store holds {events:?} up to {head:?}, the model {:?} up to {:?}",
                expected.events, expected.head
            ));
        }
        self.same_head().await
    }
}

/// The element `i` picks counting back from the last, if there are any.
/// Counting back keeps a reference when shrinking removes earlier
/// operations.
fn pick<T>(items: &[T], i: u8) -> Option<&T> {
    Some(&items[back(items.len(), i)?])
}

/// The index of the element `i` picks counting back from the last of
/// `len`.
fn back(len: usize, i: u8) -> Option<usize> {
    (len > 0).then(|| len - 1 - usize::from(i) % len)
}

fn to_event(ev: &Ev) -> EventRecord {
    // Owned names here, `'static` ones in queries: stores must compare
    // them by value.
    let ty = TYPES[usize::from(ev.ty) % TYPES.len()];
    let tags: Vec<Tag> = ev
        .tags
        .iter()
        .map(|&t| Tag::new(TAGS[usize::from(t) % TAGS.len()].to_owned()).expect("a valid tag"))
        .collect();
    EventRecord::new(
        EventType::new(ty.to_owned()).expect("a valid type"),
        vec![ev.data],
    )
    .with_tags(tags)
}

fn to_query(items: &[Item]) -> Query {
    items
        .iter()
        .map(|item| {
            QueryItem::new()
                .types(
                    item.types
                        .iter()
                        .map(|&t| EventType::from_static(TYPES[usize::from(t) % TYPES.len()])),
                )
                .tags(
                    item.tags
                        .iter()
                        .map(|&t| Tag::from_static(TAGS[usize::from(t) % TAGS.len()])),
                )
        })
        .collect()
}

/// A gap-free store holds its n-th event at position n.
fn check_gap_free(positions: &[Position]) -> Result<(), String> {
    match positions
        .iter()
        .enumerate()
        .find(|&(i, p)| p.get() != i as u64 + 1)
    {
        Some((i, p)) => Err(format!(
            "the store holds its event {} at position {p}: a gap in a gap-free store",
            i + 1
        )),
        None => Ok(()),
    }
}

/// A failure prints the sequence as the Rust that builds it, so that it
/// can be pasted into [`regressions`].
#[test]
fn operations_print_as_the_rust_that_builds_them() {
    let source = "Op::Append { events: vec![ev(1, &[0, 4], 1), ev(2, &[], 0)], ids: Ids::Alternate, \
                  condition: Cond::Fresh(vec![item(&[2], &[1, 3])], After::ReadHead(3)) }";
    let op = Op::Append {
        events: vec![ev(1, &[0, 4], 1), ev(2, &[], 0)],
        ids: Ids::Alternate,
        condition: Cond::Fresh(vec![item(&[2], &[1, 3])], After::ReadHead(3)),
    };
    assert_eq!(format!("{op:?}"), source);
    let read = Op::Read {
        query: vec![],
        after: After::At(2),
        limit: Some(3),
        backwards: true,
        streamed: false,
    };
    assert_eq!(
        format!("{read:?}"),
        "Op::Read { query: vec![], after: After::At(2), limit: Some(3), backwards: true, streamed: false }"
    );
}

/// `event` without its recorded time (also for the property tests).
pub(crate) fn untimed(event: SequencedEvent) -> SequencedEvent {
    SequencedEvent::new(event.position, event.event)
}
