//! Finding the events that match a query through the indexes.
//!
//! Each query item becomes one or more *sources*. A source with tags walks
//! the shortest of its tags' posting lists (the driver), keeps the entries
//! whose type passes the item's type filter (read from the entry itself),
//! and checks the item's other tags by binary search in their lists. A
//! source without tags walks one event type's list; an item without types or
//! tags walks every position. The scan merges its sources in position order,
//! so a read costs time in proportion to its drivers' entries in range, not
//! to the size of the store.

use std::ops::Range;

use smallvec::SmallVec;

use super::entry::{Entry, Pos, TypeId, entry, position_of, type_of};
use super::state::State;
use crate::model::error::BackendError;
use crate::{Position, Query, QueryItem, Tag};

/// A posting list a scan walks.
enum List {
    /// Every position: the entry at index `i` is position `i + 1`.
    All,
    Type(TypeId),
    Tag(Tag),
}

/// One source of matches: `lists[0]` drives, the rest must also contain a
/// driver's position, and `types` filters the driver's entries.
struct Source {
    lists: Range<usize>,
    types: TypeFilter,
}

/// The event types a source keeps, tested on an entry's type id.
enum TypeFilter {
    Any,
    /// Type ids below 64 as bits: one test per entry however many types the
    /// item names (ids are dense, so most stores have fewer than 64 types).
    Few(u64),
    /// Sorted ids, when one of them is 64 or more.
    Many(TypeIds),
}

impl TypeFilter {
    /// The filter admitting `ids`.
    fn of(ids: &[TypeId]) -> TypeFilter {
        if ids.iter().all(|&id| id < 64) {
            TypeFilter::Few(ids.iter().fold(0, |bits, &id| bits | 1 << id))
        } else {
            let mut ids = TypeIds::from_slice(ids);
            ids.sort_unstable();
            TypeFilter::Many(ids)
        }
    }

    fn admits(&self, id: TypeId) -> bool {
        match self {
            TypeFilter::Any => true,
            TypeFilter::Few(bits) => id < 64 && bits & (1 << id) != 0,
            TypeFilter::Many(ids) => ids.binary_search(&id).is_ok(),
        }
    }
}

/// A scan's posting lists as one locked state holds them, in the order of
/// the scan's lists.
pub(crate) type Lists<'s> = SmallVec<[&'s [Entry]; 4]>;

/// Scans are planned for every conditional append, so their parts live
/// inline for typical queries instead of costing an allocation each.
type TypeIds = SmallVec<[TypeId; 4]>;

/// The positions a scan yields, inline up to a decision's read (a few
/// dozen matches): such a read allocates nothing for them.
pub(crate) type Positions = SmallVec<[Pos; 32]>;

/// A resumable walk over the positions matching a query within
/// `(after, last]`, where `last` is the snapshot the scan was planned in.
pub(crate) struct Scan {
    lists: SmallVec<[List; 4]>,
    /// Per list — forward: the index of the next entry; backwards: the
    /// number of entries left, the next being at `index - 1`.
    index: SmallVec<[usize; 4]>,
    sources: SmallVec<[Source; 2]>,
    after: Pos,
    last: Pos,
    backwards: bool,
}

impl Scan {
    /// Plans a scan of `query` over the events of `state` in `(after,
    /// last]` (`range`), which becomes the scan's snapshot; `after` must be
    /// at least the state's base, `last` at most its last published
    /// position; `after` at or past `last` is an empty range. Also returns the scan's posting lists
    /// as `state` holds them, for a [`run_with`](Self::run_with) in the
    /// same lock that does not look its tags up again.
    pub(crate) fn plan_within<'s>(
        state: &'s State,
        query: &Query,
        range: (Pos, Pos),
        backwards: bool,
    ) -> (Scan, Lists<'s>) {
        let (after, last) = range;
        debug_assert!(after >= state.base() && last <= state.last());
        let mut scan = Scan {
            lists: SmallVec::new(),
            index: SmallVec::new(),
            sources: SmallVec::new(),
            after,
            last,
            backwards,
        };
        let mut resolved = Lists::new();
        if query.is_all() || query.items().iter().any(is_unrestricted) {
            scan.add_source([(List::All, &[][..])], TypeFilter::Any, &mut resolved);
            return (scan, resolved);
        }
        // Every tag of the query is looked up before any item is planned:
        // the lookups are independent, so their cache misses (likely, in a
        // table of millions of tags) overlap instead of queueing.
        let wanted: SmallVec<[&Tag; 4]> = query
            .items()
            .iter()
            .flat_map(QueryItem::required_tags)
            .collect();
        let mut tags = Lists::new();
        state.tag_lists(&wanted, &mut tags);
        let warm = tags.iter().fold(0, |sum: Entry, list| {
            sum.wrapping_add(list.first().copied().unwrap_or_default())
        });
        std::hint::black_box(warm);
        let mut rest = &tags[..];
        for item in query.items() {
            let (item_tags, others) = rest.split_at(item.required_tags().len());
            rest = others;
            scan.plan_item(state, item, item_tags, &mut resolved);
        }
        (scan, resolved)
    }

    /// The last position of the snapshot the scan was planned in.
    pub(crate) fn snapshot(&self) -> Pos {
        self.last
    }

    /// Plans `item`, whose required tags' lists are `tags`, in order.
    fn plan_item<'s>(
        &mut self,
        state: &'s State,
        item: &QueryItem,
        tags: &[&'s [Entry]],
        resolved: &mut Lists<'s>,
    ) {
        let mut ids = TypeIds::new();
        for event_type in item.event_types() {
            if let Some(id) = state.type_id(event_type) {
                ids.push(id);
            }
        }
        if !item.event_types().is_empty() && ids.is_empty() {
            // None of the item's types was ever stored.
            return;
        }
        if item.required_tags().is_empty() {
            for &id in &ids {
                let list = state.type_list(id);
                self.add_source([(List::Type(id), list)], TypeFilter::Any, resolved);
            }
            return;
        }
        let types = if ids.is_empty() {
            TypeFilter::Any
        } else {
            TypeFilter::of(&ids)
        };
        if tags.iter().any(|list| list.is_empty()) {
            // A required tag that no stored event carries.
            return;
        }
        let mut ordered: SmallVec<[(&Tag, &[Entry]); 4]> = SmallVec::new();
        for (tag, &list) in item.required_tags().iter().zip(tags) {
            ordered.push((tag, list));
        }
        ordered.sort_by_key(|(_, list)| list.len());
        let lists = ordered
            .into_iter()
            .map(|(t, list)| (List::Tag(t.clone()), list));
        self.add_source(lists, types, resolved);
    }

    /// Adds a source walking `lists` (each with its entries in the state the
    /// scan is planned in).
    fn add_source<'s>(
        &mut self,
        lists: impl IntoIterator<Item = (List, &'s [Entry])>,
        types: TypeFilter,
        resolved: &mut Lists<'s>,
    ) {
        let start = self.lists.len();
        for (list, entries) in lists {
            let index = match (&list, self.backwards) {
                (List::All, false) => usize_of(self.after),
                (List::All, true) => usize_of(self.last),
                (_, false) => entries.partition_point(|&e| position_of(e) <= self.after),
                (_, true) => entries.partition_point(|&e| position_of(e) <= self.last),
            };
            self.lists.push(list);
            self.index.push(index);
            resolved.push(entries);
        }
        self.sources.push(Source {
            lists: start..self.lists.len(),
            types,
        });
    }

    /// Puts the next matching positions in `out` (in place of what it
    /// held), in the scan's direction, at most `max` of them; returns
    /// whether the matches ran out (otherwise the scan resumes where it
    /// stopped).
    pub(crate) fn run(&mut self, state: &State, max: usize, out: &mut Positions) -> bool {
        let entries: Lists<'_> = self.lists.iter().map(|l| entries(state, l)).collect();
        self.run_with(&entries, max, out)
    }

    /// [`run`](Self::run) over `entries`, the scan's lists as the locked
    /// state holds them (from [`plan`](Self::plan) in the same lock).
    pub(crate) fn run_with(
        &mut self,
        entries: &[&[Entry]],
        max: usize,
        out: &mut Positions,
    ) -> bool {
        let walk = Walk {
            lists: &self.lists,
            entries,
            after: self.after,
            last: self.last,
            backwards: self.backwards,
        };
        let index = &mut self.index[..];
        out.clear();
        if let [source] = &self.sources[..] {
            // One source: its matches are already in order.
            while out.len() < max {
                let Some(position) = walk.settle(source, index) else {
                    return true;
                };
                walk.step(source, index);
                out.push(position);
            }
            return false;
        }
        let bound: usize = self
            .sources
            .iter()
            .map(|source| walk.left(source.lists.start, index))
            .sum();
        if bound <= max {
            // Few candidates (a decision's read): every source is drained,
            // and the matches sorted and deduplicated at once, instead of
            // merged one position at a time.
            for source in &self.sources {
                walk.drain(source, index, out);
            }
            if walk.backwards {
                out.sort_unstable_by(|a, b| b.cmp(a));
            } else {
                out.sort_unstable();
            }
            out.dedup();
            return true;
        }
        // Each source's next match; only the sources that yielded a
        // position move on and settle again.
        let mut current: SmallVec<[Option<Pos>; 4]> = SmallVec::new();
        for source in &self.sources {
            current.push(walk.settle(source, index));
        }
        loop {
            if out.len() >= max {
                return false;
            }
            let best = current
                .iter()
                .flatten()
                .copied()
                .reduce(|a, b| if walk.backwards { a.max(b) } else { a.min(b) });
            let Some(position) = best else {
                return true;
            };
            for (source, slot) in self.sources.iter().zip(current.iter_mut()) {
                if *slot == Some(position) {
                    walk.step(source, index);
                    *slot = walk.settle(source, index);
                }
            }
            out.push(position);
        }
    }
}

/// The read-only part of a scan during one [`Scan::run`], with every
/// posting list resolved once.
struct Walk<'a> {
    lists: &'a [List],
    entries: &'a [&'a [Entry]],
    after: Pos,
    last: Pos,
    backwards: bool,
}

impl Walk<'_> {
    /// The entry at `index` of list `k`, if within the list.
    fn entry(&self, k: usize, index: usize) -> Option<Entry> {
        match self.lists[k] {
            List::All => (index < usize_of(self.last)).then(|| entry(index as Pos + 1, 0)),
            _ => self.entries[k].get(index).copied(),
        }
    }

    /// Moves `source` to its next match and returns its position, or `None`
    /// when the source has no match left in range.
    fn settle(&self, source: &Source, index: &mut [usize]) -> Option<Pos> {
        let driver = source.lists.start;
        if source.lists.len() == 1 && !self.backwards && !matches!(self.lists[driver], List::All) {
            return self.settle_forward_on_one(source, &mut index[driver]);
        }
        loop {
            let entry = if self.backwards {
                self.entry(driver, index[driver].checked_sub(1)?)?
            } else {
                self.entry(driver, index[driver])?
            };
            let position = position_of(entry);
            if position <= self.after || position > self.last {
                return None;
            }
            if source.types.admits(type_of(entry))
                && (driver + 1..source.lists.end).all(|k| self.seek(k, index, position))
            {
                return Some(position);
            }
            self.step(source, index);
        }
    }

    /// [`settle`](Self::settle) for the commonest source — one posting
    /// list, read forward — as a plain walk over its entries.
    fn settle_forward_on_one(&self, source: &Source, next: &mut usize) -> Option<Pos> {
        let list = self.entries[source.lists.start];
        let rest = list.get(*next..).unwrap_or_default();
        for (skipped, &entry) in rest.iter().enumerate() {
            let position = position_of(entry);
            if position > self.last {
                *next += skipped;
                return None;
            }
            if source.types.admits(type_of(entry)) {
                *next += skipped;
                return Some(position);
            }
        }
        *next = list.len();
        None
    }

    /// Pushes every match left in `source` onto `found`, in the scan's
    /// direction, and moves it to its end.
    fn drain(&self, source: &Source, index: &mut [usize], found: &mut Positions) {
        let driver = source.lists.start;
        if source.lists.len() > 1 || matches!(self.lists[driver], List::All) {
            while let Some(position) = self.settle(source, index) {
                self.step(source, index);
                found.push(position);
            }
            return;
        }
        // One posting list: a plain walk over its entries in range.
        let list = self.entries[driver];
        let next = &mut index[driver];
        let (start, end) = if self.backwards {
            // Backwards, `next` counts the entries left, all at most `last`.
            let end = (*next).min(list.len());
            let start = list[..end].partition_point(|&e| position_of(e) <= self.after);
            (start, end)
        } else {
            let start = (*next).min(list.len());
            let count = list[start..].partition_point(|&e| position_of(e) <= self.last);
            (start, start + count)
        };
        let in_range = &list[start..end];
        found.reserve(in_range.len());
        let mut keep = |&entry: &Entry| {
            if source.types.admits(type_of(entry)) {
                found.push(position_of(entry));
            }
        };
        if self.backwards {
            in_range.iter().rev().for_each(&mut keep);
            *next = start;
        } else {
            in_range.iter().for_each(&mut keep);
            *next = end;
        }
    }

    /// How many entries list `k` has left to walk: an upper bound on the
    /// matches of the source it drives.
    fn left(&self, k: usize, index: &[usize]) -> usize {
        match (&self.lists[k], self.backwards) {
            (_, true) => index[k],
            (List::All, false) => usize_of(self.last).saturating_sub(index[k]),
            (_, false) => self.entries[k].len().saturating_sub(index[k]),
        }
    }

    /// Moves `source`'s driver past its current entry.
    fn step(&self, source: &Source, index: &mut [usize]) {
        let driver = source.lists.start;
        if self.backwards {
            index[driver] -= 1;
        } else {
            index[driver] += 1;
        }
    }

    /// Moves list `k` to `position` in the scan's direction and says whether
    /// the list contains it.
    fn seek(&self, k: usize, index: &mut [usize], position: Pos) -> bool {
        let list = self.entries[k];
        let at = index[k];
        if self.backwards {
            let head = &list[..at.min(list.len())];
            let found = head.partition_point(|&e| position_of(e) <= position);
            index[k] = found;
            found > 0 && position_of(list[found - 1]) == position
        } else {
            let tail = list.get(at..).unwrap_or_default();
            let found = at + tail.partition_point(|&e| position_of(e) < position);
            index[k] = found;
            list.get(found).is_some_and(|&e| position_of(e) == position)
        }
    }
}

/// The first position after `after` matching `query`, if any: the check of
/// an append condition. Equivalent to the first step of a forward [`Scan`],
/// without planning a resumable one.
///
/// Positions up to the state's base are asked of what keeps them (see
/// [`Below`](super::below::Below)), the rest of the tail's indexes.
pub(crate) fn first_match(
    state: &State,
    query: &Query,
    after: Option<Position>,
) -> Result<Option<Pos>, BackendError> {
    let after = after.map_or(0, Position::get);
    if let Some(below) = state.below()
        && after < state.base()
        && let Some(first) = below.first_match(query, after, state.base())?
    {
        return Ok(Some(first));
    }
    Ok(first_tail_match(state, query, after.max(state.base())))
}

/// [`first_match`] among the tail's events, after `after` (at least the
/// base).
fn first_tail_match(state: &State, query: &Query, after: Pos) -> Option<Pos> {
    if after >= state.end() {
        // Nothing is stored after `after`: the usual case for a decision
        // whose read saw the store's last event (one writer, or no other
        // write since the read), decided without touching an index.
        return None;
    }
    if query.is_all() || query.items().iter().any(is_unrestricted) {
        return (after < state.end()).then_some(after + 1);
    }
    query
        .items()
        .iter()
        .filter_map(|item| first_item_match(state, item, after))
        .min()
}

fn first_item_match(state: &State, item: &QueryItem, after: Pos) -> Option<Pos> {
    let types = item.event_types();
    let Some((driver, others)) = item.required_tags().as_slice().split_first() else {
        // Types only: the earliest entry after `after` in any type's list.
        return types
            .iter()
            .filter_map(|t| {
                let list = state.type_list(state.type_id(t)?);
                let i = list.partition_point(|&e| position_of(e) <= after);
                list.get(i).map(|&e| position_of(e))
            })
            .min();
    };
    // Drive with the shortest tag list; the others are checked by search.
    let mut driver_list = state.tag_list(driver);
    for tag in others {
        let list = state.tag_list(tag);
        if list.len() < driver_list.len() {
            driver_list = list;
        }
    }
    let start = driver_list.partition_point(|&e| position_of(e) <= after);
    let candidates = &driver_list[start..];
    if candidates.is_empty() {
        // The usual case for a decision's condition: nothing new.
        return None;
    }
    let rest: SmallVec<[&[Entry]; 3]> = item
        .required_tags()
        .iter()
        .map(|t| state.tag_list(t))
        .filter(|list| !std::ptr::eq(*list, driver_list))
        .collect();
    let mut ids: TypeIds = types.iter().filter_map(|t| state.type_id(t)).collect();
    if !types.is_empty() && ids.is_empty() {
        return None;
    }
    ids.sort_unstable();
    candidates.iter().find_map(|&e| {
        let position = position_of(e);
        let type_ok = types.is_empty() || ids.contains(&type_of(e));
        let tags_ok = rest.iter().all(|list| {
            list.binary_search_by_key(&position, |&x| position_of(x))
                .is_ok()
        });
        (type_ok && tags_ok).then_some(position)
    })
}

fn is_unrestricted(item: &QueryItem) -> bool {
    item.event_types().is_empty() && item.required_tags().is_empty()
}

fn entries<'s>(state: &'s State, list: &List) -> &'s [Entry] {
    match list {
        List::All => &[],
        List::Type(id) => state.type_list(*id),
        List::Tag(tag) => state.tag_list(tag),
    }
}

fn usize_of(p: Pos) -> usize {
    usize::try_from(p).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventRecord, EventType};

    /// A state of 200 events, event `n` of type `T{n % 100}` and tagged
    /// `all` and `n:{n % 7}`: ids 0 to 99, past what a bit mask holds.
    fn many_types() -> State {
        let mut state = State::default();
        for n in 0..200 {
            let event = EventRecord::new(EventType::new(format!("T{}", n % 100)).unwrap(), "{}")
                .with_tags([
                    Tag::new("all").unwrap(),
                    Tag::new(format!("n:{}", n % 7)).unwrap(),
                ]);
            state.push(vec![event], None);
        }
        state.publish();
        state.index_tags();
        state
    }

    fn matches(state: &State, query: &Query, backwards: bool) -> Vec<Pos> {
        let (mut scan, lists) = Scan::plan_within(state, query, (0, state.last()), backwards);
        let mut found = Positions::new();
        assert!(scan.run_with(&lists, usize::MAX, &mut found));
        found.into_vec()
    }

    fn types(ids: &[u64]) -> Vec<EventType> {
        ids.iter()
            .map(|n| EventType::new(format!("T{n}")).unwrap())
            .collect()
    }

    #[test]
    fn type_filters_hold_below_and_past_64_types() {
        let state = many_types();
        for ids in [&[3, 60][..], &[3, 64, 99], &[99]] {
            let query = Query::from(
                QueryItem::new()
                    .types(types(ids))
                    .tags([Tag::new("all").unwrap()]),
            );
            // Position p is event p - 1.
            let expected: Vec<Pos> = (1..=200)
                .filter(|p| ids.contains(&((p - 1) % 100)))
                .collect();
            assert_eq!(matches(&state, &query, false), expected, "types {ids:?}");
            let backwards: Vec<Pos> = expected.iter().rev().copied().collect();
            assert_eq!(
                matches(&state, &query, true),
                backwards,
                "types {ids:?}, backwards"
            );
        }
    }

    #[test]
    fn type_filters_hold_with_several_tags() {
        let state = many_types();
        let query = Query::from(
            QueryItem::new()
                .types(types(&[1, 70, 71]))
                .tags([Tag::new("all").unwrap(), Tag::new("n:1").unwrap()]),
        );
        let expected: Vec<Pos> = (1..=200)
            .filter(|p| [1, 70, 71].contains(&((p - 1) % 100)) && (p - 1) % 7 == 1)
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(matches(&state, &query, false), expected);
    }
}
