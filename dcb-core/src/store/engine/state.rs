//! The engine's data: the event log and its indexes, posting lists of
//! [`Entry`]s by type and by tag, and event ids.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use foldhash::fast::RandomState;
use smallvec::SmallVec;
use uuid::Uuid;

use super::below::Below;
use super::entry::{Entry, Pos, TypeId, entry, position_of};
use super::tag_index::TagIndex;
use crate::{EventRecord, EventType, Position, Tag, Timestamp};

/// How many events' tags [`State::index_tags`] locates together before it
/// pushes them: the lookups are independent, so their cache misses (likely,
/// in a table of millions of tags) overlap instead of queueing.
const RUN: usize = 8;

/// The most pushed events whose tags may wait to be indexed. Indexing tags
/// in runs lets the lookups of several events overlap; a read or a
/// condition that needs the tag index indexes the rest first.
const MAX_UNINDEXED: usize = 256;

/// Up to this many distinct event types, a type's id is found by comparing
/// names one by one: cheaper than hashing the name, and as cheap for a type
/// never stored (a query often names one) as for a stored one.
const FEW_TYPES: usize = 16;

/// The stored time of an event recorded without one (`DCBLOG1` segments).
const UNKNOWN_TIME: i64 = i64::MIN;

/// The events' recorded times, in chunks that never move: as the log grows,
/// no time is copied (a `Vec` would copy them all at each doubling, and its
/// appends wait for that copy).
#[derive(Default)]
struct Times {
    chunks: Vec<Box<[i64]>>,
    len: usize,
}

impl Times {
    /// Times per chunk: 128 KiB, its pages zeroed lazily by the system.
    const CHUNK: usize = 1 << 14;

    /// Appends `value` `n` times.
    fn push(&mut self, value: i64, n: usize) {
        for _ in 0..n {
            let (chunk, at) = (self.len / Self::CHUNK, self.len % Self::CHUNK);
            if chunk == self.chunks.len() {
                self.chunks.push(vec![0; Self::CHUNK].into_boxed_slice());
            }
            self.chunks[chunk][at] = value;
            self.len += 1;
        }
    }

    /// The time at `index`, which must be below the length.
    fn get(&self, index: usize) -> i64 {
        self.chunks[index / Self::CHUNK][index % Self::CHUNK]
    }

    /// Keeps the first `len` times.
    #[cfg(any(feature = "embedded", test))]
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
        self.chunks.truncate(self.len.div_ceil(Self::CHUNK));
    }
}

/// The log and its indexes, guarded together by the store's lock so that
/// an append is visible everywhere at once or nowhere.
#[derive(Default)]
pub(crate) struct State {
    /// The last position kept by `below` (0 without one): `events[0]` is
    /// position `base + 1`.
    base: Pos,
    /// Where the events up to `base` are found.
    below: Option<Arc<dyn Below>>,
    /// How many times the tail was handed to `below`: a scan planned in an
    /// earlier generation holds indexes into lists that are gone.
    generation: u64,
    /// Every pushed event after `base`; those after `published` are not
    /// visible yet.
    events: Vec<EventRecord>,
    /// When each event of `events` was recorded, in microseconds since the
    /// Unix epoch; [`UNKNOWN_TIME`] for events stored without a time.
    times: Times,
    /// The latest time recorded: no append is recorded before it.
    latest: Option<Timestamp>,
    /// The last position reads may see.
    published: Pos,
    type_ids: HashMap<EventType, TypeId, RandomState>,
    /// Every interned type, by id.
    type_names: Vec<EventType>,
    /// The ids of the last few `'static` type names seen, by address: most
    /// types are literals, and a pointer comparison is cheaper than hashing.
    recent_types: [Option<(&'static str, TypeId)>; 4],
    /// The slot of `recent_types` to replace next.
    recent_next: usize,
    /// Entries of each event type, by type id.
    by_type: Vec<Vec<Entry>>,
    /// Entries of each tag, for every pushed event but those in `pending`.
    by_tag: TagIndex,
    /// The entries of the pushed events whose tags are not indexed yet, in
    /// order: [`index_tags`](Self::index_tags) indexes them.
    pending: Vec<Entry>,
    /// Whether a read has used the tag index since the last push. While
    /// reads and appends alternate (a decision's read, then its append),
    /// each append indexes its tags at once, so that the read after it
    /// does not have to take the write lock to do so.
    read_lately: AtomicBool,
    /// The position of each event id.
    by_id: HashMap<Uuid, Pos, RandomState>,
}

impl State {
    /// An empty state with room for `events` events and `tags` distinct
    /// tags, so that neither table grows (and rehashes) until then.
    pub(crate) fn with_capacity(events: usize, tags: usize) -> State {
        State {
            events: Vec::with_capacity(events),
            by_tag: TagIndex::with_capacity(tags),
            ..State::default()
        }
    }

    /// An empty tail on `below`, which keeps the events up to `base`,
    /// the latest of them recorded at `latest`.
    #[cfg(feature = "embedded")]
    pub(crate) fn on(below: Arc<dyn Below>, base: Pos, latest: Option<Timestamp>) -> State {
        State {
            base,
            below: Some(below),
            published: base,
            latest,
            ..State::default()
        }
    }

    /// This state's successor once `below` keeps the first `count` events
    /// of the tail as well, still empty: a tail on a base `count` events
    /// higher, in the next generation. The events after the first `count`
    /// go into it with [`push_recorded`](Self::push_recorded), from
    /// [`recorded`](Self::recorded).
    #[cfg(feature = "embedded")]
    pub(crate) fn successor(&self, count: usize) -> State {
        let base = self.base + count.min(self.events.len()) as Pos;
        State {
            base,
            below: self.below.clone(),
            generation: self.generation + 1,
            published: base,
            latest: self.latest,
            ..State::default()
        }
    }

    /// The published events of the tail from its `from`-th on, each with
    /// its recorded time in microseconds ([`UNKNOWN_TIME`] for none).
    /// The records are shared, not copied.
    #[cfg(feature = "embedded")]
    pub(crate) fn recorded(&self, from: usize) -> Vec<(EventRecord, i64)> {
        let published = usize::try_from(self.published - self.base)
            .unwrap_or(usize::MAX)
            .min(self.events.len());
        (from..published)
            .map(|i| (self.events[i].clone(), self.times.get(i)))
            .collect()
    }

    /// Pushes and publishes `events` from [`recorded`](Self::recorded),
    /// in runs recorded at one time as they were first pushed, and indexes
    /// their tags.
    #[cfg(feature = "embedded")]
    pub(crate) fn push_recorded(&mut self, events: Vec<(EventRecord, i64)>) {
        let mut events = events.into_iter().peekable();
        while let Some((first, at)) = events.next() {
            let mut run = vec![first];
            while let Some((event, _)) = events.next_if(|(_, next)| *next == at) {
                run.push(event);
            }
            let at = (at != UNKNOWN_TIME).then_some(Timestamp::from_micros(at));
            self.push(run, at);
        }
        self.index_tags();
        self.publish();
    }

    /// The last position kept below the tail (0 when none is).
    pub(crate) fn base(&self) -> Pos {
        self.base
    }

    /// Where the events up to [`base`](Self::base) are found, if anywhere.
    pub(crate) fn below(&self) -> Option<&Arc<dyn Below>> {
        self.below.as_ref()
    }

    /// How many times the tail was handed down.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The events of the tail (after [`base`](Self::base)), pushed or
    /// published, with their times, from position `base + 1` on.
    #[cfg(feature = "embedded")]
    pub(crate) fn tail(&self) -> impl Iterator<Item = (&EventRecord, Option<Timestamp>)> {
        self.events.iter().enumerate().map(|(i, event)| {
            let micros = self.times.get(i);
            (
                event,
                (micros != UNKNOWN_TIME).then_some(Timestamp::from_micros(micros)),
            )
        })
    }

    /// How many events the tail holds.
    #[cfg(feature = "embedded")]
    pub(crate) fn tail_len(&self) -> usize {
        self.events.len()
    }

    /// The latest time recorded.
    #[cfg(feature = "embedded")]
    pub(crate) fn latest(&self) -> Option<Timestamp> {
        self.latest
    }

    /// The last published position — what reads see — 0 when none.
    pub(crate) fn last(&self) -> Pos {
        self.published
    }

    /// The last pushed position, published or not; appends check their
    /// conditions against everything pushed.
    pub(crate) fn end(&self) -> Pos {
        self.base + self.events.len() as Pos
    }

    /// Makes every pushed event visible to reads.
    pub(crate) fn publish(&mut self) {
        self.published = self.end();
    }

    /// Removes the pushed, unpublished events after position `to`, with
    /// their index entries: the rollback of a batch that could not be made
    /// durable.
    #[cfg(any(feature = "embedded", test))]
    pub(crate) fn truncate(&mut self, to: Pos) {
        let to = to.max(self.published);
        // Events after `indexed` have no tag entries to remove.
        let indexed = self.end() - self.pending.len() as Pos;
        let keep = self.pending.partition_point(|&e| position_of(e) <= to);
        self.pending.truncate(keep);
        while self.end() > to {
            let Some(event) = self.events.pop() else {
                break;
            };
            let position = self.end() + 1;
            if let Some(type_id) = self.type_ids.get(event.event_type()).copied()
                && let Some(list) = self.by_type.get_mut(type_id as usize)
                && list.last().is_some_and(|&e| position_of(e) == position)
            {
                list.pop();
            }
            if position <= indexed {
                for tag in event.tags() {
                    self.by_tag.pop(tag, position);
                }
            }
            if let Some(id) = event.id()
                && self.by_id.get(&id) == Some(&position)
            {
                self.by_id.remove(&id);
            }
        }
        self.times.truncate(self.events.len());
    }

    /// The event at `position`, which must be in `base() + 1..=end()`.
    pub(crate) fn event(&self, position: Pos) -> &EventRecord {
        &self.events[self.index(position)]
    }

    /// The index in `events` of `position`, which must be after the base.
    fn index(&self, position: Pos) -> usize {
        usize::try_from(position - self.base - 1).unwrap_or(usize::MAX)
    }

    /// When the event at `position` (in `base() + 1..=end()`) was recorded.
    pub(crate) fn recorded_at(&self, position: Pos) -> Option<Timestamp> {
        let index = self.index(position);
        let micros = self.times.get(index);
        (micros != UNKNOWN_TIME).then_some(Timestamp::from_micros(micros))
    }

    /// The time to record the next append at, given the clock's `now`:
    /// `now`, or the latest time recorded if the clock is behind it — so
    /// times never decrease along positions, even when the clock is set
    /// back (the latest time is recovered with the log).
    pub(crate) fn stamp(&self, now: Timestamp) -> Timestamp {
        self.latest.map_or(now, |latest| latest.max(now))
    }

    pub(crate) fn type_id(&self, event_type: &EventType) -> Option<TypeId> {
        if let Some(id) = self.recent_type(event_type) {
            return Some(id);
        }
        self.known_type(event_type)
    }

    /// The id of `event_type` without the `recent_types` shortcut.
    fn known_type(&self, event_type: &EventType) -> Option<TypeId> {
        if self.type_names.len() <= FEW_TYPES {
            let name = event_type.as_str();
            let found = self.type_names.iter().position(|t| t.as_str() == name)?;
            // `check_capacity` keeps the number of types below 2^24.
            return TypeId::try_from(found).ok();
        }
        self.type_ids.get(event_type).copied()
    }

    fn recent_type(&self, event_type: &EventType) -> Option<TypeId> {
        let name = event_type.static_str()?;
        self.recent_types
            .iter()
            .flatten()
            .find(|(known, _)| std::ptr::eq(*known, name))
            .map(|&(_, id)| id)
    }

    pub(crate) fn type_list(&self, type_id: TypeId) -> &[Entry] {
        self.by_type
            .get(type_id as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// The entries of `tag`; call [`index_tags`](Self::index_tags) first
    /// (see [`tags_indexed`](Self::tags_indexed)).
    pub(crate) fn tag_list(&self, tag: &Tag) -> &[Entry] {
        debug_assert!(self.tags_indexed(), "the tag index is behind");
        self.by_tag.get(tag)
    }

    /// The entries of each of `tags`, in order, into `lists`, looked up
    /// together (see [`TagIndex::get_all`]); call
    /// [`index_tags`](Self::index_tags) first.
    pub(crate) fn tag_lists<'s>(&'s self, tags: &[&Tag], lists: &mut impl Extend<&'s [Entry]>) {
        debug_assert!(self.tags_indexed(), "the tag index is behind");
        self.by_tag.get_all(tags, lists);
    }

    /// Whether the tag index covers every pushed event.
    pub(crate) fn tags_indexed(&self) -> bool {
        self.pending.is_empty()
    }

    /// Notes that a read is about to use the tag index: the next push
    /// indexes its tags at once.
    pub(crate) fn note_read(&self) {
        if !self.read_lately.load(Ordering::Relaxed) {
            self.read_lately.store(true, Ordering::Relaxed);
        }
    }

    /// Indexes the tags of every pushed event not indexed yet.
    pub(crate) fn index_tags(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for run in pending.chunks(RUN) {
            let mut probes: SmallVec<[(u64, &Tag); RUN * 2]> = SmallVec::new();
            for &entry in run {
                let index = self.index(position_of(entry));
                for tag in self.events[index].tags() {
                    probes.push((self.by_tag.hash(tag), tag));
                }
            }
            // Room for every tag of the run first, in each table it goes
            // to, so that no push of the run moves a table and undoes the
            // warming.
            for &(hash, _) in &probes {
                self.by_tag.reserve(hash, probes.len());
            }
            // Every tag of the run is looked up before any is pushed: the
            // lookups are independent, so their cache misses (likely, in a
            // table of millions of tags) overlap instead of queueing.
            self.by_tag.warm(&probes);
            let mut probes = probes.into_iter();
            for &entry in run {
                let index = self.index(position_of(entry));
                for tag in self.events[index].tags() {
                    let hash = probes
                        .next()
                        .map_or_else(|| self.by_tag.hash(tag), |(hash, _)| hash);
                    self.by_tag.push(tag, hash, entry);
                }
            }
        }
        self.pending = pending;
        self.pending.clear();
    }

    /// The position of the event with `id`, if one is stored (or pushed).
    pub(crate) fn position_of_id(&self, id: &Uuid) -> Option<Pos> {
        self.by_id.get(id).copied()
    }

    /// Whether any event of the tail (stored or pushed) carries an id.
    pub(crate) fn has_ids(&self) -> bool {
        !self.by_id.is_empty()
    }

    /// How many distinct event types are interned.
    pub(crate) fn type_count(&self) -> usize {
        self.type_ids.len()
    }

    /// Whether `event_type` is interned.
    pub(crate) fn knows_type(&self, event_type: &EventType) -> bool {
        self.type_ids.contains_key(event_type)
    }

    /// Pushes `events` and indexes them, unpublished; returns the last
    /// position. Check the append with [`append::check`](super::append::check) first.
    /// `at` is when the append was recorded ([`stamp`](Self::stamp) gives
    /// it), `None` for events replayed from a log without times.
    pub(crate) fn push(&mut self, events: Vec<EventRecord>, at: Option<Timestamp>) -> Position {
        self.events.reserve(events.len());
        self.times
            .push(at.map_or(UNKNOWN_TIME, Timestamp::as_micros), events.len());
        if at > self.latest {
            self.latest = at;
        }
        for event in events {
            let position = self.end() + 1;
            let type_id = self.intern(event.event_type());
            let entry = entry(position, type_id);
            self.by_type[type_id as usize].push(entry);
            self.pending.push(entry);
            if let Some(id) = event.id() {
                self.by_id.insert(id, position);
            }
            self.events.push(event);
        }
        let read_lately = std::mem::take(self.read_lately.get_mut());
        if read_lately || self.pending.len() >= MAX_UNINDEXED {
            self.index_tags();
        }
        Position::new(self.end()).unwrap_or(Position::FIRST)
    }

    fn intern(&mut self, event_type: &EventType) -> TypeId {
        if let Some(id) = self.recent_type(event_type) {
            return id;
        }
        if let Some(id) = self.known_type(event_type) {
            self.remember(event_type, id);
            return id;
        }
        // `check_capacity` keeps the number of types below 2^24.
        let id = TypeId::try_from(self.by_type.len()).unwrap_or(TypeId::MAX);
        self.type_ids.insert(event_type.clone(), id);
        self.type_names.push(event_type.clone());
        self.by_type.push(Vec::new());
        self.remember(event_type, id);
        id
    }

    fn remember(&mut self, event_type: &EventType, id: TypeId) {
        if let Some(name) = event_type.static_str() {
            self.recent_types[self.recent_next] = Some((name, id));
            self.recent_next = (self.recent_next + 1) % self.recent_types.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64) -> EventRecord {
        EventRecord::new(EventType::from_static("Happened"), "{}").with_tags([
            Tag::new(format!("every:{}", n % 3)).unwrap(),
            Tag::new(format!("one:{n}")).unwrap(),
        ])
    }

    fn positions(state: &State, tag: &str) -> Vec<Pos> {
        let tag = Tag::new(tag).unwrap();
        state
            .tag_list(&tag)
            .iter()
            .map(|&e| position_of(e))
            .collect()
    }

    /// Pushes events 1..=n one append at a time.
    fn pushed(n: u64) -> State {
        let mut state = State::default();
        for i in 1..=n {
            state.push(vec![event(i)], None);
        }
        state
    }

    #[test]
    fn tags_wait_in_runs_and_are_indexed_on_demand() {
        let n = MAX_UNINDEXED as u64 + 10;
        let mut state = pushed(n);
        assert!(!state.tags_indexed(), "the last 10 events wait");
        state.index_tags();
        assert!(state.tags_indexed());
        let expected: Vec<Pos> = (1..=n).filter(|i| i % 3 == 1).collect();
        assert_eq!(positions(&state, "every:1"), expected);
        for i in 1..=n {
            assert_eq!(positions(&state, &format!("one:{i}")), [i]);
        }
    }

    #[test]
    fn runs_with_more_tags_than_are_located_at_once() {
        let mut state = State::default();
        let shared = Tag::new("shared").unwrap();
        for i in 1..=20u64 {
            let tags = (0..5).map(|t| Tag::new(format!("t{t}:{}", i % 4)).unwrap());
            let event = EventRecord::new(EventType::from_static("Happened"), "{}")
                .with_tags(tags.chain([shared.clone()]).collect::<crate::Tags>());
            state.push(vec![event], None);
        }
        state.index_tags();
        assert_eq!(positions(&state, "shared"), (1..=20).collect::<Vec<_>>());
        for t in 0..5 {
            let expected: Vec<Pos> = (1..=20).filter(|i| i % 4 == 3).collect();
            assert_eq!(positions(&state, &format!("t{t}:3")), expected);
        }
    }

    #[test]
    fn truncate_removes_indexed_and_waiting_entries_alike() {
        let n = MAX_UNINDEXED as u64 + 10;
        // Cut inside the waiting run, then inside the indexed part.
        for to in [n - 5, n - 20] {
            let mut state = pushed(n);
            state.truncate(to);
            assert_eq!(state.end(), to);
            state.index_tags();
            let expected: Vec<Pos> = (1..=to).filter(|i| i % 3 == 2).collect();
            assert_eq!(positions(&state, "every:2"), expected, "cut to {to}");
            assert!(positions(&state, &format!("one:{}", to + 1)).is_empty());
            assert_eq!(positions(&state, &format!("one:{to}")), [to]);
            // Pushing again after the cut indexes the new events in place.
            state.push(vec![event(to + 1)], None);
            state.index_tags();
            assert_eq!(positions(&state, &format!("one:{}", to + 1)), [to + 1]);
        }
    }

    #[test]
    fn times_keep_their_values_across_chunks_and_cuts() {
        let mut times = Times::default();
        let chunk = Times::CHUNK;
        times.push(1, chunk - 1);
        times.push(2, 3);
        assert_eq!(
            (
                times.get(chunk - 2),
                times.get(chunk - 1),
                times.get(chunk + 1)
            ),
            (1, 2, 2)
        );
        times.truncate(chunk - 1);
        assert_eq!(times.chunks.len(), 1, "the emptied chunk is freed");
        times.push(3, 2);
        assert_eq!(
            (times.get(chunk - 2), times.get(chunk - 1), times.get(chunk)),
            (1, 3, 3)
        );
        assert_eq!(times.len, chunk + 1);
    }
}
