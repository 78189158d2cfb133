//! Property tests of the DCB rules (docs/spec.md §1) on [`InMemoryStore`].
//!
//! - Query matching against a plain definition written here.
//! - Every store operation against the reference model,
//!   `conformance::ReferenceStore` (the one model every store is compared
//!   with; `model_*` runs longer sequences against the durable stores):
//!   reads (events and heads, also while a stream is consumed), conditional
//!   appends, idempotent appends by id and the errors.
//! - Paging with each page's head as the next `after` collects what one
//!   unlimited read returns.
//! - A read shows the snapshot it began in, even across appends made while
//!   its stream is consumed in several batches.

use dcb_core::IndexedEvents;
use dcb_core::conformance::ReferenceStore;
use dcb_core::{
    AppendCondition, AppendError, EventRecord, EventStore, EventType, InMemoryStore, InvalidInput,
    Position, Query, QueryItem, ReadError, ReadOptions, SequencedEvent, Tag, Uuid,
};
use dcb_core::{EventStream, ReadResult};
use futures_util::{FutureExt, StreamExt};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use tokio::runtime::Runtime;

const TYPES: [&str; 4] = ["T0", "T1", "T2", "T3"];
const TAGS: [&str; 7] = ["a:0", "a:1", "a:2", "a:3", "b:0", "b:1", "b:2"];

// ---------------------------------------------------------------------------
// Plain definitions
// ---------------------------------------------------------------------------

/// An event as the model sees it: indexes into the alphabets.
#[derive(Clone, Debug)]
struct Ev {
    ty: usize,
    /// Unordered and possibly repeated, as a caller might give them.
    tags: Vec<usize>,
    data: u8,
    id: Option<u128>,
}

impl Ev {
    fn to_event(&self) -> EventRecord {
        // Owned names here, static ones in queries: the store must compare
        // them by value.
        let tags: Vec<Tag> = self
            .tags
            .iter()
            .map(|&t| Tag::new(TAGS[t].to_owned()).expect("valid tag"))
            .collect();
        let event = EventRecord::new(
            EventType::new(TYPES[self.ty].to_owned()).expect("valid type"),
            vec![self.data],
        )
        .with_tags(tags);
        match self.id {
            Some(id) => event.with_id(Uuid::from_u128(id)),
            None => event,
        }
    }
}

/// A query item as indexes into the alphabets.
#[derive(Clone, Debug)]
struct ItemSpec {
    types: Vec<usize>,
    tags: Vec<usize>,
}

/// docs/spec.md §1: the item's types are empty or contain the event's type, and
/// every tag of the item is among the event's tags.
fn item_selects(item: &ItemSpec, event: &Ev) -> bool {
    (item.types.is_empty() || item.types.contains(&event.ty))
        && item.tags.iter().all(|t| event.tags.contains(t))
}

/// docs/spec.md §1: no items selects everything, otherwise any item must select.
fn selects(query: &[ItemSpec], event: &Ev) -> bool {
    query.is_empty() || query.iter().any(|item| item_selects(item, event))
}

fn to_item(spec: &ItemSpec) -> QueryItem {
    // Tags given in two calls: the builder accumulates them.
    let (first, rest) = spec.tags.split_at(spec.tags.len() / 2);
    let tags = |names: &[usize]| -> Vec<Tag> {
        names.iter().map(|&t| Tag::from_static(TAGS[t])).collect()
    };
    QueryItem::new()
        .types(spec.types.iter().map(|&t| EventType::from_static(TYPES[t])))
        .tags(tags(first))
        .tags(tags(rest))
}

fn to_query(spec: &[ItemSpec]) -> Query {
    spec.iter().map(to_item).collect()
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// `cases` cases, and the seeds of past failures read from (and new ones
/// written to) `properties.proptest-regressions` beside this file. By
/// default proptest would use `tests/proptest-regressions/properties.txt`,
/// since this module sits beside a `main.rs`, and the committed file
/// would never be read.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::with_cases(cases)
    }
}

fn event_strategy() -> impl Strategy<Value = Ev> {
    (0..TYPES.len(), vec(0..TAGS.len(), 0..=3), 0u8..3).prop_map(|(ty, tags, data)| Ev {
        ty,
        tags,
        data,
        id: None,
    })
}

fn item_strategy() -> impl Strategy<Value = ItemSpec> {
    (vec(0..TYPES.len(), 0..=2), vec(0..TAGS.len(), 0..=2))
        .prop_map(|(types, tags)| ItemSpec { types, tags })
}

fn query_strategy() -> impl Strategy<Value = Vec<ItemSpec>> {
    vec(item_strategy(), 0..=3)
}

// ---------------------------------------------------------------------------
// 1. Query matching
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1024))]

    /// `QueryItem::matches`, `Query::matches` and `Query::union` agree with
    /// the plain definitions; an item that `covers` another matches every
    /// event the other matches, and a union keeps no item another of its
    /// items covers.
    #[test]
    fn query_matching_follows_the_definition(
        events in vec(event_strategy(), 1..=16),
        spec in query_strategy(),
        other_spec in query_strategy(),
    ) {
        let query = to_query(&spec);
        let other = to_query(&other_spec);
        let union = query.union(&other);
        prop_assert_eq!(query.items().len(), spec.len());
        prop_assert_eq!(query.is_all(), spec.is_empty());
        for ev in &events {
            let event = ev.to_event();
            for (item_spec, item) in spec.iter().zip(query.items()) {
                prop_assert_eq!(
                    item.matches(&event),
                    item_selects(item_spec, ev),
                    "item {:?} on {:?}", item, event
                );
            }
            prop_assert_eq!(
                query.matches(&event),
                selects(&spec, ev),
                "query {:?} on {:?}", query, event
            );
            prop_assert_eq!(
                union.matches(&event),
                selects(&spec, ev) || selects(&other_spec, ev),
                "union {:?} of {:?} and {:?} on {:?}", union, query, other, event
            );
            for wide in query.items().iter().chain(other.items()) {
                for narrow in query.items().iter().chain(other.items()) {
                    if wide.covers(narrow) && narrow.matches(&event) {
                        prop_assert!(
                            wide.matches(&event),
                            "{:?} covers {:?} but misses {:?}", wide, narrow, event
                        );
                    }
                }
            }
        }
        for wide in query.items().iter().chain(other.items()) {
            for narrow in query.items().iter().chain(other.items()) {
                prop_assert_eq!(
                    wide.covers(narrow),
                    covers(wide, narrow),
                    "{:?} and {:?}", wide, narrow
                );
            }
        }
        for (i, kept) in union.items().iter().enumerate() {
            for (j, other_kept) in union.items().iter().enumerate() {
                prop_assert!(
                    i == j || !covers(kept, other_kept),
                    "the union {:?} keeps {:?}, which {:?} covers", union, other_kept, kept
                );
            }
        }
    }
}

/// Whether `wide` selects every event `narrow` selects, from the items'
/// types and tags: it requires no tag `narrow` does not, and accepts any
/// type or every type `narrow` accepts (which must then name some).
fn covers(wide: &QueryItem, narrow: &QueryItem) -> bool {
    let tags = wide
        .required_tags()
        .iter()
        .all(|t| narrow.required_tags().contains(t.as_str()));
    let types = wide.event_types().is_empty()
        || (!narrow.event_types().is_empty()
            && narrow
                .event_types()
                .iter()
                .all(|t| wide.event_types().contains(t)));
    tags && types
}

// ---------------------------------------------------------------------------
// 2. The store against a model
// ---------------------------------------------------------------------------

/// The reference model, `conformance::ReferenceStore`, driven with the
/// ops' own types.
#[derive(Default)]
struct Model(ReferenceStore);

/// A condition: the query (as a spec) and `after`.
#[derive(Clone, Debug)]
struct Decision {
    query: Vec<ItemSpec>,
    after: Option<Position>,
}

impl Decision {
    fn to_condition(&self) -> AppendCondition {
        AppendCondition::new(to_query(&self.query)).after(self.after)
    }
}

/// The outcome of an append, comparable.
#[derive(Debug, PartialEq, Eq)]
enum Appended {
    At(Position),
    ConditionFailed(Position),
    DuplicateId { id: Uuid, position: Position },
    Invalid(InvalidInput),
    Other(String),
}

impl From<Result<Position, AppendError>> for Appended {
    fn from(result: Result<Position, AppendError>) -> Appended {
        match result {
            Ok(position) => Appended::At(position),
            Err(AppendError::ConditionFailed { conflicting }) => {
                Appended::ConditionFailed(conflicting)
            }
            Err(AppendError::DuplicateEventId { id, position }) => {
                Appended::DuplicateId { id, position }
            }
            Err(AppendError::InvalidInput(invalid)) => Appended::Invalid(invalid),
            Err(other) => Appended::Other(other.to_string()),
        }
    }
}

impl Model {
    fn last(&self) -> Option<Position> {
        self.0.head_now()
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn read(&self, query: &[ItemSpec], options: ReadOptions) -> Result<ReadResult, InvalidInput> {
        let query = to_query(query);
        match self
            .0
            .read_to_end(&query, options)
            .now_or_never()
            .expect("the model never waits")
        {
            Ok(result) => Ok(untimed(result)),
            Err(ReadError::InvalidInput(invalid)) => Err(invalid),
            Err(other) => panic!("the model failed to read: {other}"),
        }
    }

    fn append(&mut self, events: &[Ev], condition: Option<&Decision>) -> Appended {
        let condition = condition.map(Decision::to_condition);
        let events = events.iter().map(Ev::to_event).collect();
        Appended::from(self.0.append_now(events, condition.as_ref()))
    }
}

/// Which events of an append carry (fresh) ids.
#[derive(Clone, Copy, Debug)]
enum Ids {
    Absent,
    Every,
    Alternate,
}

/// Where an `after` comes from.
#[derive(Clone, Debug)]
enum After {
    Start,
    At(u64),
    /// The head of an earlier read.
    ReadHead(Index),
    /// The store's current head.
    StoreHead,
}

/// Where an append condition comes from.
#[derive(Clone, Debug)]
enum Cond {
    Fresh(Vec<ItemSpec>, After),
    /// The query and head of an earlier read.
    EarlierRead(Index),
    /// The query and head of the latest read: a decision.
    LatestRead,
}

/// How a retry changes an earlier id-carrying append.
#[derive(Clone, Debug)]
enum Change {
    Same,
    Prefix(Index),
    Suffix(Index),
    /// The tags of one event reordered and repeated: the same set.
    Retag(Index),
    OtherData(Index),
    OtherType(Index),
    DropId(Index),
    AddFresh,
    PrependFresh,
    Reverse,
    RepeatFirst,
}

#[derive(Clone, Debug)]
struct ReadSpec {
    query: Vec<ItemSpec>,
    after: After,
    limit: Option<usize>,
    backwards: bool,
}

#[derive(Clone, Debug)]
enum Op {
    Append {
        events: Vec<Ev>,
        ids: Ids,
        condition: Option<Cond>,
    },
    Retry {
        which: Index,
        change: Change,
        condition: Option<Cond>,
    },
    Read {
        read: ReadSpec,
        streamed: bool,
    },
    /// Starts a read, pulls some events, appends, then pulls the rest.
    ReadAcrossAppend {
        read: ReadSpec,
        pulled: usize,
        events: Vec<Ev>,
    },
    Head,
}

fn after_strategy() -> impl Strategy<Value = After> {
    prop_oneof![
        3 => Just(After::Start),
        2 => (0u64..=40).prop_map(After::At),
        2 => any::<Index>().prop_map(After::ReadHead),
        1 => Just(After::StoreHead),
    ]
}

fn cond_strategy() -> impl Strategy<Value = Option<Cond>> {
    prop_oneof![
        3 => Just(None),
        2 => (query_strategy(), after_strategy()).prop_map(|(q, a)| Some(Cond::Fresh(q, a))),
        1 => any::<Index>().prop_map(|i| Some(Cond::EarlierRead(i))),
        2 => Just(Some(Cond::LatestRead)),
    ]
}

fn change_strategy() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => Just(Change::Same),
        1 => any::<Index>().prop_map(Change::Prefix),
        1 => any::<Index>().prop_map(Change::Suffix),
        1 => any::<Index>().prop_map(Change::Retag),
        1 => any::<Index>().prop_map(Change::OtherData),
        1 => any::<Index>().prop_map(Change::OtherType),
        1 => any::<Index>().prop_map(Change::DropId),
        1 => Just(Change::AddFresh),
        1 => Just(Change::PrependFresh),
        1 => Just(Change::Reverse),
        1 => Just(Change::RepeatFirst),
    ]
}

fn read_strategy() -> impl Strategy<Value = ReadSpec> {
    let limit = prop_oneof![
        4 => Just(None),
        6 => (1usize..=10).prop_map(Some),
        1 => Just(Some(0)),
    ];
    (query_strategy(), after_strategy(), limit, any::<bool>()).prop_map(
        |(query, after, limit, backwards)| ReadSpec {
            query,
            after,
            limit,
            backwards,
        },
    )
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let events = prop_oneof![1 => Just(Vec::new()), 15 => vec(event_strategy(), 1..=4)];
    let ids = prop_oneof![Just(Ids::Absent), Just(Ids::Every), Just(Ids::Alternate)];
    prop_oneof![
        5 => (events, ids, cond_strategy())
            .prop_map(|(events, ids, condition)| Op::Append { events, ids, condition }),
        2 => (any::<Index>(), change_strategy(), cond_strategy())
            .prop_map(|(which, change, condition)| Op::Retry { which, change, condition }),
        4 => (read_strategy(), any::<bool>())
            .prop_map(|(read, streamed)| Op::Read { read, streamed }),
        1 => (read_strategy(), 0usize..=4, vec(event_strategy(), 1..=3))
            .prop_map(|(read, pulled, events)| Op::ReadAcrossAppend { read, pulled, events }),
        1 => Just(Op::Head),
    ]
}

/// A test failure for an error that should not have happened.
fn failed(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
}

/// The invalid input of a failed read; any other failure fails the test.
fn invalid_read(error: ReadError) -> Result<InvalidInput, TestCaseError> {
    match error {
        ReadError::InvalidInput(invalid) => Ok(invalid),
        other => Err(TestCaseError::fail(format!("the read failed: {other}"))),
    }
}

/// Pulls up to `max` events from `stream` into `out`, checking the head the
/// stream reports before its end; returns whether the stream ended.
fn pull(
    rt: &Runtime,
    stream: &mut IndexedEvents,
    backwards: bool,
    max: usize,
    out: &mut Vec<SequencedEvent>,
) -> Result<bool, TestCaseError> {
    rt.block_on(async {
        for _ in 0..max {
            let Some(item) = stream.next().await else {
                return Ok(true);
            };
            let event = item.map_err(failed)?;
            out.push(event);
            // Before the end: the last position shown going forward, nothing
            // going backwards.
            let shown = if backwards {
                None
            } else {
                out.last().map(|e| e.position)
            };
            prop_assert_eq!(stream.head(), shown, "head before the end, after {:?}", out);
        }
        Ok(false)
    })
}

/// The state of one run: the store, the model and what the ops refer back to.
struct Run {
    rt: Runtime,
    store: InMemoryStore,
    model: Model,
    last_id: u128,
    /// The query and head of each successful read.
    reads: Vec<Decision>,
    /// Every attempted append whose events all carry ids.
    id_appends: Vec<Vec<Ev>>,
}

impl Run {
    fn new() -> Run {
        Run {
            rt: runtime(),
            store: InMemoryStore::new(),
            model: Model::default(),
            last_id: 0,
            reads: Vec::new(),
            id_appends: Vec::new(),
        }
    }

    fn fresh_id(&mut self) -> u128 {
        self.last_id += 1;
        self.last_id
    }

    fn after(&self, after: &After) -> Option<Position> {
        match after {
            After::Start => None,
            After::At(n) => Position::new(*n),
            After::ReadHead(i) => pick(&self.reads, *i).and_then(|read| read.after),
            After::StoreHead => self.model.last(),
        }
    }

    fn decision(&self, condition: Option<&Cond>) -> Option<Decision> {
        let everything = || Decision {
            query: Vec::new(),
            after: None,
        };
        condition.map(|condition| match condition {
            Cond::Fresh(query, after) => Decision {
                query: query.clone(),
                after: self.after(after),
            },
            Cond::EarlierRead(i) => pick(&self.reads, *i).cloned().unwrap_or_else(everything),
            Cond::LatestRead => self.reads.last().cloned().unwrap_or_else(everything),
        })
    }

    fn options(&self, spec: &ReadSpec) -> ReadOptions {
        ReadOptions {
            after: self.after(&spec.after),
            limit: spec.limit,
            backwards: spec.backwards,
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Append {
                events,
                ids,
                condition,
            } => {
                let mut events = events.clone();
                for (i, ev) in events.iter_mut().enumerate() {
                    if matches!(ids, Ids::Every) || matches!(ids, Ids::Alternate) && i % 2 == 0 {
                        ev.id = Some(self.fresh_id());
                    }
                }
                if !events.is_empty() && events.iter().all(|e| e.id.is_some()) {
                    self.id_appends.push(events.clone());
                }
                let decision = self.decision(condition.as_ref());
                self.append(&events, decision.as_ref())
            }
            Op::Retry {
                which,
                change,
                condition,
            } => {
                let Some(events) = pick(&self.id_appends, *which).cloned() else {
                    return Ok(());
                };
                let events = self.change(events, change);
                let decision = self.decision(condition.as_ref());
                self.append(&events, decision.as_ref())
            }
            Op::Read { read, streamed } => self.read(read, *streamed),
            Op::ReadAcrossAppend {
                read,
                pulled,
                events,
            } => self.read_across_append(read, *pulled, events),
            Op::Head => {
                let head = self.rt.block_on(self.store.head()).map_err(failed)?;
                prop_assert_eq!(head, self.model.last());
                Ok(())
            }
        }
    }

    fn change(&mut self, mut events: Vec<Ev>, change: &Change) -> Vec<Ev> {
        let n = events.len();
        match change {
            Change::Same => {}
            Change::Prefix(i) => events.truncate(i.index(n) + 1),
            Change::Suffix(i) => {
                events.drain(..i.index(n));
            }
            Change::Retag(i) => {
                let tags = &mut events[i.index(n)].tags;
                tags.reverse();
                if let Some(&tag) = tags.first() {
                    tags.push(tag);
                }
            }
            Change::OtherData(i) => {
                let ev = &mut events[i.index(n)];
                ev.data = (ev.data + 1) % 3;
            }
            Change::OtherType(i) => {
                let ev = &mut events[i.index(n)];
                ev.ty = (ev.ty + 1) % TYPES.len();
            }
            Change::DropId(i) => events[i.index(n)].id = None,
            Change::AddFresh => {
                let mut ev = events[0].clone();
                ev.id = Some(self.fresh_id());
                events.push(ev);
            }
            Change::PrependFresh => {
                let mut ev = events[0].clone();
                ev.id = Some(self.fresh_id());
                events.insert(0, ev);
            }
            Change::Reverse => events.reverse(),
            Change::RepeatFirst => events.push(events[0].clone()),
        }
        events
    }

    fn append(&mut self, events: &[Ev], decision: Option<&Decision>) -> Result<(), TestCaseError> {
        let condition = decision.map(Decision::to_condition);
        let actual = Appended::from(
            self.rt.block_on(
                self.store
                    .append(events.iter().map(Ev::to_event).collect(), condition),
            ),
        );
        let expected = self.model.append(events, decision);
        prop_assert_eq!(
            actual,
            expected,
            "append of {:?} under {:?}",
            events,
            decision
        );
        Ok(())
    }

    fn read(&mut self, spec: &ReadSpec, streamed: bool) -> Result<(), TestCaseError> {
        let options = self.options(spec);
        let query = to_query(&spec.query);
        let actual = if streamed {
            match self.store.read_now(&query, options) {
                Ok(stream) => Ok(self.drain(stream, options.backwards)?),
                Err(error) => Err(invalid_read(error)?),
            }
        } else {
            match self.rt.block_on(self.store.read_to_end(&query, options)) {
                Ok(result) => Ok(result),
                Err(error) => Err(invalid_read(error)?),
            }
        };
        let expected = self.model.read(&spec.query, options);
        let actual = actual.map(untimed);
        prop_assert_eq!(&actual, &expected, "read of {:?} with {:?}", query, options);
        if let Ok(result) = actual {
            self.reads.push(Decision {
                query: spec.query.clone(),
                after: result.head,
            });
        }
        Ok(())
    }

    /// Consumes a whole stream, checking its head before and after the end.
    fn drain(
        &self,
        mut stream: IndexedEvents,
        backwards: bool,
    ) -> Result<ReadResult, TestCaseError> {
        prop_assert_eq!(stream.head(), None, "head before the first event");
        let mut events = Vec::new();
        let ended = pull(&self.rt, &mut stream, backwards, usize::MAX, &mut events)?;
        prop_assert!(ended);
        Ok(ReadResult {
            events,
            head: stream.head(),
        })
    }

    fn read_across_append(
        &mut self,
        spec: &ReadSpec,
        pulled: usize,
        events: &[Ev],
    ) -> Result<(), TestCaseError> {
        let mut options = self.options(spec);
        options.limit = options.limit.filter(|&limit| limit > 0);
        let expected = self.model.read(&spec.query, options).map_err(failed)?;
        let query = to_query(&spec.query);
        let mut stream = self.store.read_now(&query, options).map_err(failed)?;
        let mut seen = Vec::new();
        let ended = pull(&self.rt, &mut stream, options.backwards, pulled, &mut seen)?;
        self.append(events, None)?;
        if !ended {
            pull(
                &self.rt,
                &mut stream,
                options.backwards,
                usize::MAX,
                &mut seen,
            )?;
        }
        let actual = untimed(ReadResult {
            events: seen,
            head: stream.head(),
        });
        prop_assert_eq!(
            &actual,
            &expected,
            "read of {:?} with {:?} across an append after {} events",
            query,
            options,
            pulled
        );
        self.reads.push(Decision {
            query: spec.query.clone(),
            after: actual.head,
        });
        Ok(())
    }

    fn check_head(&self) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.store.head_now(), self.model.last());
        prop_assert_eq!(self.store.len(), self.model.len());
        Ok(())
    }

    fn check_everything(&self) -> Result<(), TestCaseError> {
        let all = self
            .rt
            .block_on(self.store.read_to_end(&Query::all(), ReadOptions::new()))
            .map_err(failed)?;
        let expected = self.model.read(&[], ReadOptions::new()).map_err(failed)?;
        prop_assert_eq!(untimed(all), expected);
        Ok(())
    }
}

/// The element `index` selects, if there are any.
fn pick<T>(items: &[T], index: Index) -> Option<&T> {
    (!items.is_empty()).then(|| &items[index.index(items.len())])
}

proptest! {
    #![proptest_config(config(1024))]

    /// Every result of the store (positions, errors, events, heads) is the
    /// model's.
    #[test]
    fn the_store_behaves_like_the_model(ops in vec(op_strategy(), 1..=50)) {
        let mut run = Run::new();
        for op in &ops {
            run.apply(op)?;
            run.check_head()?;
        }
        run.check_everything()?;
    }
}

// ---------------------------------------------------------------------------
// 3. Paging and 4. snapshots, over stores larger than one read batch
// ---------------------------------------------------------------------------

/// A store and its model holding `events`, appended a few at a time.
fn filled(rt: &Runtime, events: &[Ev]) -> (InMemoryStore, Model) {
    let store = InMemoryStore::new();
    let mut model = Model::default();
    for chunk in events.chunks(5) {
        rt.block_on(store.append(chunk.iter().map(Ev::to_event).collect(), None))
            .expect("append");
        model.append(chunk, None);
    }
    (store, model)
}

fn page_limit_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..=10, 1usize..=600]
}

/// Queries that select many events, so that reads span several batches of
/// the store's type and tag indexes (not only of its full log).
fn broad_query_strategy() -> impl Strategy<Value = Vec<ItemSpec>> {
    let item = (vec(0..TYPES.len(), 1..=3), vec(0..TAGS.len(), 0..=1))
        .prop_map(|(types, tags)| ItemSpec { types, tags });
    vec(item, 1..=3)
}

proptest! {
    #![proptest_config(config(256))]

    /// Reading page by page, each page after the previous page's head,
    /// collects exactly the events of one unlimited read, and the last page
    /// ends at the same head.
    #[test]
    fn paging_by_head_collects_one_read(
        events in vec(event_strategy(), 0..=700),
        spec in query_strategy(),
        limit in page_limit_strategy(),
        start in 0u64..=20,
    ) {
        let rt = runtime();
        let (store, model) = filled(&rt, &events);
        let query = to_query(&spec);
        let start = Position::new(start);
        let everything = ReadOptions::new().after(start);
        let whole = rt.block_on(store.read_to_end(&query, everything)).map_err(failed)?;
        prop_assert_eq!(&untimed(whole.clone()), &model.read(&spec, everything).map_err(failed)?);

        let mut collected = Vec::new();
        let mut after = start;
        let mut pages = 0;
        loop {
            pages += 1;
            prop_assert!(pages <= events.len() + 2, "paging does not end");
            let options = ReadOptions::new().after(after).limit(limit);
            let page = rt.block_on(store.read_to_end(&query, options)).map_err(failed)?;
            prop_assert!(page.events.len() <= limit);
            collected.extend(page.events.iter().cloned());
            if page.events.len() < limit {
                prop_assert_eq!(page.head, whole.head, "head of the last page");
                break;
            }
            prop_assert!(page.head > after, "page head {:?} after {:?}", page.head, after);
            after = page.head;
        }
        prop_assert_eq!(collected, whole.events);
    }

    /// A read shows the snapshot it began in: appends made while its stream
    /// is consumed, possibly between batches, are not shown, and its head
    /// does not move past the snapshot.
    #[test]
    fn a_read_shows_the_snapshot_it_began_in(
        events in vec(event_strategy(), 200..=900),
        spec in prop_oneof![query_strategy(), broad_query_strategy()],
        limit in prop_oneof![2 => Just(None), 1 => page_limit_strategy().prop_map(Some)],
        backwards in any::<bool>(),
        pulled in 0usize..=700,
        later in vec(event_strategy(), 1..=20),
    ) {
        let rt = runtime();
        let (store, mut model) = filled(&rt, &events);
        let query = to_query(&spec);
        let options = ReadOptions { after: None, limit, backwards };
        let expected = model.read(&spec, options).map_err(failed)?;
        let mut stream = store.read_now(&query, options).map_err(failed)?;
        let mut seen = Vec::new();
        let ended = pull(&rt, &mut stream, backwards, pulled, &mut seen)?;
        for chunk in later.chunks(3) {
            let appended = store.append(chunk.iter().map(Ev::to_event).collect(), None);
            prop_assert_eq!(Appended::from(rt.block_on(appended)), model.append(chunk, None));
        }
        if !ended {
            pull(&rt, &mut stream, backwards, usize::MAX, &mut seen)?;
        }
        prop_assert_eq!(untimed(ReadResult { events: seen, head: stream.head() }), expected);
    }
}

/// Regression: while the condition check was being reworked, one build
/// failed an append whose condition's item named type `T3` and tag `a:2`
/// on a stored `T0 {a:2}` event — the item's type filter was not applied to
/// the tag list's entries. The condition must only see events of its types.
#[test]
fn a_condition_item_applies_its_type_filter_to_tagged_events() {
    let store = InMemoryStore::new();
    let t0 = EventType::from_static("T0");
    let t3 = EventType::from_static("T3");
    let a2 = Tag::from_static("a:2");
    store
        .append_now(vec![EventRecord::new(t3.clone(), "{}")], None)
        .unwrap();
    store
        .append_now(vec![EventRecord::new(t0.clone(), "{}")], None)
        .unwrap();
    let query = Query::from(QueryItem::new().types([t3]).tags([a2.clone()]));
    let condition = AppendCondition::new(query).after(Position::new(1));
    let third = EventRecord::new(t0.clone(), "{}").with_tags([a2]);
    assert_eq!(
        store
            .append_now(vec![third], Some(&condition))
            .unwrap()
            .get(),
        3
    );
    let fourth = EventRecord::new(t0, "{}");
    assert_eq!(
        store
            .append_now(vec![fourth], Some(&condition))
            .unwrap()
            .get(),
        4
    );
}

/// `result` without its events' recorded times, which the store and the
/// model set each by its own clock (the conformance suite checks times).
fn untimed(result: ReadResult) -> ReadResult {
    ReadResult {
        events: result
            .events
            .into_iter()
            .map(crate::model_machine::untimed)
            .collect(),
        head: result.head,
    }
}
