//! [`TagIndex`]: the posting list of every tag.
//!
//! The index is a hash table of its own rather than a general-purpose map,
//! because in a store of millions of tags nearly every lookup misses the
//! cache, and what a lookup costs is the number of cache lines it must wait
//! for one after another. Here a tag's entry *is* its slot: one aligned
//! 64-byte line holding the tag's hash, its text (when short) and the start
//! of its posting list, found by linear probing from the slot the hash
//! names. A lookup waits for that one line (its neighbours, when probing
//! goes on, are next in memory) and then for the posting list if it lives
//! on the heap. A table with separate control bytes, like `hashbrown`'s,
//! waits for the control bytes first and then for the slot.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use smallvec::{SmallVec, smallvec};

use super::entry::Entry;
#[cfg(any(feature = "embedded", test))]
use super::entry::{Pos, position_of};
use super::spare;
use crate::Tag;

/// Most tags name one thing (a student, a course) and carry few events, so
/// their first entries live inline: no allocation per new tag.
type PostingList = SmallVec<[Entry; 2]>;

/// The longest tag whose text a [`TagEntry`] keeps inline.
const INLINE_TEXT: usize = 30;

/// A tag's text as the table keeps it: inline when short, so that
/// confirming a hash match reads no other cache line; otherwise shared with
/// the event that first carried the tag (a clone of its [`Tag`]), not
/// copied.
#[derive(Clone, Default)]
enum TagText {
    /// The text of a vacant slot: nothing, so that making vacant slots
    /// writes no bytes of text.
    #[default]
    None,
    Inline {
        len: u8,
        bytes: [u8; INLINE_TEXT],
    },
    Shared(Tag),
}

impl TagText {
    fn new(tag: &Tag) -> TagText {
        let text = tag.as_str().as_bytes();
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE_TEXT => {
                let mut bytes = [0; INLINE_TEXT];
                bytes[..text.len()].copy_from_slice(text);
                TagText::Inline { len, bytes }
            }
            _ => TagText::Shared(tag.clone()),
        }
    }

    fn is(&self, tag: &Tag) -> bool {
        match self {
            TagText::Inline { len, bytes } => {
                &bytes[..usize::from(*len)] == tag.as_str().as_bytes()
            }
            TagText::Shared(shared) => shared.as_str() == tag.as_str(),
            TagText::None => false,
        }
    }
}

/// The hash of a vacant slot; [`TagIndex::hash`] never returns it.
const VACANT: u64 = 0;

/// One slot of a table: a tag's posting list, with the tag's hash kept so
/// that growing the table never reads the tag's text again, or a vacant
/// slot (hash [`VACANT`]). One cache line, aligned.
#[derive(Clone, Default)]
#[repr(align(64))]
struct TagEntry {
    hash: u64,
    entries: PostingList,
    text: TagText,
}

const _: () = assert!(size_of::<TagEntry>() == 64);

impl TagEntry {
    fn is_vacant(&self) -> bool {
        self.hash == VACANT
    }

    fn holds(&self, hash: u64, tag: &Tag) -> bool {
        self.hash == hash && self.text.is(tag)
    }
}

/// The most lookups [`TagIndex::get_all`] and [`TagIndex::warm`] start
/// before they wait for the first.
pub(crate) const MAX_LOCATE: usize = 16;

/// The number of tables the tags are spread over, by hash.
const SHARDS: usize = 256;

/// A table is grown before more than `MAX_LOAD_NUM / MAX_LOAD_DEN` of its
/// slots are taken. Linear probing then finds a tag in 2.5 slots on
/// average and a vacant slot in 8.5 at the maximum load, in 1.3 and 1.8
/// right after growing (3/8 taken) — neighbouring lines, which arrive
/// together. A lower maximum load probes less but grows more, into fresh
/// memory whose first touch is the costliest part of an append.
const MAX_LOAD_NUM: usize = 3;
const MAX_LOAD_DEN: usize = 4;

/// The fewest slots of a table that holds any tag.
const MIN_SLOTS: usize = 8;

/// A table orders the table it will grow into (see [`spare`]) once more
/// than `ORDER_LOAD_NUM / ORDER_LOAD_DEN` of its slots are taken: a sixteenth
/// of its slots before it grows, time enough for the helper, and late
/// enough that few tables hold an unused one at a time.
const ORDER_LOAD_NUM: usize = 11;
const ORDER_LOAD_DEN: usize = 16;

/// Tables this small grow in place: their pages are few, and likely reused.
const MIN_ORDER_SLOTS: usize = 1024;

/// Up to this many entries, a full posting list grows to four times its
/// length instead of two. Most lists stay short, and each move of a list to
/// a larger buffer is a reallocation and a copy on an append's path: moving
/// short lists half as often measured +7–19 % appends on a growing store
/// (docs/decisions/0009-tag-tables-grown-off-the-append-path.md), for at most a few hundred bytes per list.
const QUICK_GROWTH_LEN: usize = 64;

/// Appends `entry` to `entries`, growing a full list by [`QUICK_GROWTH_LEN`]'s
/// rule.
fn push_entry(entries: &mut PostingList, entry: Entry) {
    let len = entries.len();
    if len == entries.capacity() {
        entries.reserve_exact(if len < QUICK_GROWTH_LEN { 3 * len } else { len });
    }
    entries.push(entry);
}

/// One table: open addressing with linear probing over a power-of-two
/// number of slots, never more than [`MAX_LOAD_NUM`]`/`[`MAX_LOAD_DEN`]
/// taken (so a probe always ends at a vacant slot), and no tombstones: a
/// removal shifts the slots after it back (see [`Table::remove`]).
#[derive(Default)]
struct Table {
    slots: Vec<TagEntry>,
    len: usize,
    /// The table to grow into, on order from the helper since the table
    /// passed [`ORDER_LOAD_NUM`]`/`[`ORDER_LOAD_DEN`] of its slots.
    next: Option<spare::Order<TagEntry>>,
}

impl Table {
    /// The slot a probe for `hash` starts at. Only for a table with slots.
    fn home(&self, hash: u64) -> usize {
        // The slot count fits in usize, so the masked value does too; bit 0
        // of every hash is set (see `TagIndex::hash`), so it is skipped.
        #[allow(clippy::cast_possible_truncation)]
        let home = (hash >> 1) as usize & (self.slots.len() - 1);
        home
    }

    fn next(&self, slot: usize) -> usize {
        (slot + 1) & (self.slots.len() - 1)
    }

    /// The slot holding `tag`, or else the vacant slot where it belongs.
    /// Only for a table with slots.
    fn probe(&self, hash: u64, tag: &Tag) -> Result<usize, usize> {
        let mut slot = self.home(hash);
        loop {
            let entry = &self.slots[slot];
            if entry.is_vacant() {
                return Err(slot);
            }
            if entry.holds(hash, tag) {
                return Ok(slot);
            }
            slot = self.next(slot);
        }
    }

    fn find(&self, hash: u64, tag: &Tag) -> Option<&TagEntry> {
        if self.len == 0 {
            return None;
        }
        self.probe(hash, tag).ok().map(|slot| &self.slots[slot])
    }

    /// The hash in the slot a probe for `hash` starts at, read only to
    /// bring its line into the cache.
    fn touch(&self, hash: u64) -> u64 {
        if self.slots.is_empty() {
            return 0;
        }
        self.slots[self.home(hash)].hash
    }

    /// Makes room for `additional` more tags without passing the maximum
    /// load, growing to the next power of two that holds them.
    fn reserve(&mut self, additional: usize) {
        let needed = self.len.saturating_add(additional);
        let fits = |slots: usize| needed.saturating_mul(MAX_LOAD_DEN) <= slots * MAX_LOAD_NUM;
        if fits(self.slots.len()) {
            return;
        }
        let mut slots = self.slots.len().max(MIN_SLOTS);
        while !fits(slots) {
            slots *= 2;
        }
        self.resize(slots);
    }

    /// Moves every tag into a table of `slots` vacant slots: the one on
    /// order if it is ready and that large, else a new one. A large old
    /// table is freed by the helper.
    fn resize(&mut self, slots: usize) {
        let vacant = self
            .next
            .take()
            .and_then(|order| order.take(slots))
            .unwrap_or_else(|| {
                let mut vacant = Vec::with_capacity(slots);
                vacant.resize_with(slots, TagEntry::default);
                vacant
            });
        let mut old = std::mem::replace(&mut self.slots, vacant);
        for entry in old.iter_mut().filter(|e| !e.is_vacant()) {
            let entry = std::mem::take(entry);
            let mut slot = self.home(entry.hash);
            while !self.slots[slot].is_vacant() {
                slot = self.next(slot);
            }
            self.slots[slot] = entry;
        }
        if old.len() >= MIN_ORDER_SLOTS {
            spare::discard(old);
        }
    }

    /// Orders the table this one will grow into, once it is nearly full.
    fn order_next(&mut self) {
        let slots = self.slots.len();
        if self.next.is_none()
            && slots >= MIN_ORDER_SLOTS
            && self.len * ORDER_LOAD_DEN > slots * ORDER_LOAD_NUM
        {
            self.next = spare::order(slots * 2);
        }
    }

    /// Adds `entry` to the posting list of `tag`, making the tag's slot if
    /// it has none.
    fn push(&mut self, hash: u64, tag: &Tag, entry: Entry) {
        self.reserve(1);
        match self.probe(hash, tag) {
            Ok(slot) => push_entry(&mut self.slots[slot].entries, entry),
            Err(slot) => {
                self.slots[slot] = TagEntry {
                    hash,
                    entries: smallvec![entry],
                    text: TagText::new(tag),
                };
                self.len += 1;
                self.order_next();
            }
        }
    }

    /// Removes `position` from the end of the posting list of `tag`, if it
    /// is there, and the tag once no event carries it.
    #[cfg(any(feature = "embedded", test))]
    fn pop(&mut self, hash: u64, tag: &Tag, position: Pos) {
        if self.len == 0 {
            return;
        }
        let Ok(slot) = self.probe(hash, tag) else {
            return;
        };
        let entries = &mut self.slots[slot].entries;
        if entries.last().is_some_and(|&e| position_of(e) == position) {
            entries.pop();
        }
        if entries.is_empty() {
            self.remove(slot);
        }
    }

    /// Vacates `slot`, then moves back every later tag of the same run of
    /// taken slots that may sit there (its probe starts at or before the
    /// vacated slot), so every probe still finds its tag before a vacancy.
    #[cfg(any(feature = "embedded", test))]
    fn remove(&mut self, mut slot: usize) {
        let mut later = slot;
        loop {
            later = self.next(later);
            if self.slots[later].is_vacant() {
                break;
            }
            let home = self.home(self.slots[later].hash);
            // Whether `home` lies cyclically in (slot, later]: then the tag
            // at `later` is still reachable from its home and stays.
            let stays = if slot <= later {
                slot < home && home <= later
            } else {
                slot < home || home <= later
            };
            if !stays {
                self.slots[slot] = std::mem::take(&mut self.slots[later]);
                slot = later;
            }
        }
        self.slots[slot] = TagEntry::default();
        self.len -= 1;
    }
}

/// The posting list of every tag, in [`SHARDS`] tables chosen by the tag's
/// hash. Each table grows on its own, a small step at a time: one table of
/// millions of tags would move them all in the one append that outgrows it
/// (over 100 ms at two million tags, most of it faulting in the new table's
/// fresh pages).
pub(crate) struct TagIndex {
    hasher: RandomState,
    tables: Box<[Table]>,
}

impl Default for TagIndex {
    fn default() -> TagIndex {
        TagIndex::with_capacity(0)
    }
}

/// The table of `hash`: its top eight bits, which probing does not use
/// (the low bits pick the slot).
fn shard(hash: u64) -> usize {
    // Eight bits, so the cast is lossless.
    #[allow(clippy::cast_possible_truncation)]
    let shard = (hash >> 56) as usize;
    shard
}

impl TagIndex {
    /// An empty index with room for `tags` distinct tags.
    pub(crate) fn with_capacity(tags: usize) -> TagIndex {
        let per_table = tags.div_ceil(SHARDS);
        TagIndex {
            hasher: RandomState::default(),
            tables: (0..SHARDS)
                .map(|_| {
                    let mut table = Table::default();
                    if per_table > 0 {
                        table.reserve(per_table);
                    }
                    table
                })
                .collect(),
        }
    }

    fn table(&self, hash: u64) -> &Table {
        &self.tables[shard(hash)]
    }

    fn table_mut(&mut self, hash: u64) -> &mut Table {
        &mut self.tables[shard(hash)]
    }

    /// The hash the index files `tag` under (never [`VACANT`]); an append
    /// computes it once per tag for [`warm`](Self::warm) and
    /// [`push`](Self::push).
    pub(crate) fn hash(&self, tag: &Tag) -> u64 {
        self.hasher.hash_one(tag.as_str()) | 1
    }

    /// The entries of `tag`, ascending; empty when no event carries it.
    pub(crate) fn get(&self, tag: &Tag) -> &[Entry] {
        let hash = self.hash(tag);
        self.table(hash)
            .find(hash, tag)
            .map_or(&[], |e| e.entries.as_slice())
    }

    /// The entries of each of `tags`, in order, into `lists`: like
    /// [`get`](Self::get) for each, but every tag's slot is requested before
    /// any is read, so the cache misses of the lookups are in flight
    /// together instead of one after another.
    pub(crate) fn get_all<'s>(&'s self, tags: &[&Tag], lists: &mut impl Extend<&'s [Entry]>) {
        for chunk in tags.chunks(MAX_LOCATE) {
            let mut hashes = [0; MAX_LOCATE];
            let mut seen = [0; MAX_LOCATE];
            for ((hash, seen), tag) in hashes.iter_mut().zip(&mut seen).zip(chunk) {
                *hash = self.hash(tag);
                *seen = self.table(*hash).touch(*hash);
            }
            std::hint::black_box(&seen);
            lists.extend(hashes.iter().zip(chunk).map(|(&hash, tag)| {
                self.table(hash)
                    .find(hash, tag)
                    .map_or(&[][..], |e| e.entries.as_slice())
            }));
        }
    }

    /// Makes room for `tags` new tags in the table of `hash`, so that its
    /// next `tags` pushes do not move it (and the lines
    /// [`warm`](Self::warm) brought into the cache).
    pub(crate) fn reserve(&mut self, hash: u64, tags: usize) {
        self.table_mut(hash).reserve(tags);
    }

    /// Brings into the cache what [`push`](Self::push) will touch for each
    /// `(hash, tag)` of `probes`, in stages — every tag's slot, then the
    /// end of every found posting list — so that the cache misses of all
    /// the lookups are in flight together; the pushes that follow then
    /// find their lines in the cache. Changes nothing.
    pub(crate) fn warm(&self, probes: &[(u64, &Tag)]) {
        for chunk in probes.chunks(MAX_LOCATE) {
            let mut seen = [0; MAX_LOCATE];
            for (seen, &(hash, _)) in seen.iter_mut().zip(chunk) {
                *seen = self.table(hash).touch(hash);
            }
            std::hint::black_box(&seen);
            let mut ends = [0; MAX_LOCATE];
            for (end, &(hash, tag)) in ends.iter_mut().zip(chunk) {
                *end = self
                    .table(hash)
                    .find(hash, tag)
                    .and_then(|e| e.entries.last().copied())
                    .unwrap_or_default();
            }
            std::hint::black_box(&ends);
        }
    }

    /// Removes `position` from the end of the posting list of `tag`, if it
    /// is there, and the tag once no event carries it.
    #[cfg(any(feature = "embedded", test))]
    pub(crate) fn pop(&mut self, tag: &Tag, position: Pos) {
        let hash = self.hash(tag);
        self.table_mut(hash).pop(hash, tag, position);
    }

    /// Appends `entry` to the posting list of `tag`, whose
    /// [`hash`](Self::hash) is `hash`. Entries must come in ascending
    /// position order per tag.
    pub(crate) fn push(&mut self, tag: &Tag, hash: u64, entry: Entry) {
        self.table_mut(hash).push(hash, tag, entry);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::store::engine::entry::entry;

    fn tag(text: &str) -> Tag {
        Tag::new(text).unwrap()
    }

    fn positions(index: &TagIndex, tag: &Tag) -> Vec<Pos> {
        index.get(tag).iter().map(|&e| position_of(e)).collect()
    }

    #[test]
    fn an_unknown_tag_has_no_entries() {
        let index = TagIndex::default();
        assert!(index.get(&tag("nobody")).is_empty());
    }

    #[test]
    fn tags_long_and_short_keep_their_entries_through_growth() {
        let mut index = TagIndex::default();
        let long = "x".repeat(INLINE_TEXT + 10);
        let tags: Vec<Tag> = (0..5_000)
            .map(|n| tag(&format!("{}{n}", if n % 2 == 0 { "t:" } else { &long })))
            .collect();
        for position in 1..=20_000 {
            let t = &tags[usize::try_from(position * 7).unwrap() % tags.len()];
            index.push(t, index.hash(t), entry(position, 0));
        }
        for (n, t) in tags.iter().enumerate() {
            let expected: Vec<Pos> = (1..=20_000)
                .filter(|&p| usize::try_from(p * 7).unwrap() % tags.len() == n)
                .collect();
            assert_eq!(positions(&index, t), expected, "tag {t}");
        }
    }

    #[test]
    fn get_all_answers_like_get_in_order() {
        let mut index = TagIndex::default();
        let tags: Vec<Tag> = (0..40).map(|n| tag(&format!("t:{n}"))).collect();
        for (position, t) in (1..).zip(tags.iter().step_by(2)) {
            index.push(t, index.hash(t), entry(position, 0));
        }
        let wanted: Vec<&Tag> = tags.iter().collect();
        let mut lists: Vec<&[Entry]> = Vec::new();
        index.get_all(&wanted, &mut lists);
        assert_eq!(lists.len(), tags.len());
        for (t, list) in tags.iter().zip(lists) {
            assert_eq!(list, index.get(t), "tag {t}");
        }
    }

    #[test]
    fn a_tag_whose_last_entry_is_popped_is_gone() {
        let mut index = TagIndex::default();
        let t = tag("t:1");
        index.push(&t, index.hash(&t), entry(1, 0));
        index.pop(&t, 2);
        assert_eq!(
            positions(&index, &t),
            [1],
            "only the last position is popped"
        );
        index.pop(&t, 1);
        assert!(index.get(&t).is_empty());
        assert_eq!(index.tables.iter().map(|t| t.len).sum::<usize>(), 0);
    }

    #[test]
    fn a_table_grows_into_the_table_it_ordered() {
        let index = TagIndex::default();
        let tags: Vec<Tag> = (0..3000).map(|n| tag(&format!("t:{n}"))).collect();
        let mut table = Table::default();
        let mut grown_into_order = 0;
        let mut ordered: Option<*const TagEntry> = None;
        for (position, t) in (1..).zip(&tags) {
            table.push(index.hash(t), t, entry(position, 0));
            if let Some(at) = ordered
                && table.slots.as_ptr() == at
            {
                grown_into_order += 1;
                ordered = None;
            }
            if ordered.is_none()
                && let Some(order) = table.next.take()
            {
                let order = order.wait();
                ordered = order.table();
                table.next = Some(order);
            }
        }
        // 1,024 → 2,048 and 2,048 → 4,096 slots.
        assert_eq!(grown_into_order, 2);
        for (position, t) in (1..).zip(&tags) {
            let found = table.find(index.hash(t), t).map(|e| e.entries.to_vec());
            assert_eq!(found, Some(vec![entry(position, 0)]), "tag {t}");
        }
    }

    /// A hash for tag `n` of the property test: few distinct homes, so
    /// that runs of taken slots are long and wrap around the table's end.
    fn crowded_hash(n: u8) -> u64 {
        ((u64::from(n) % 5) << 1) | 1 | (u64::from(n) << 32)
    }

    proptest! {
        /// Pushes and pops on one table against a map of lists: a removal
        /// shifts later slots back, and no tag may become unreachable.
        #[test]
        fn pushes_and_pops_match_a_map(
            ops in proptest::collection::vec((any::<bool>(), 0u8..48), 1..400),
        ) {
            let mut table = Table::default();
            let mut model: HashMap<u8, Vec<Pos>> = HashMap::new();
            for (position, (pop, n)) in (1..).zip(ops) {
                let t = tag(&format!("t:{n}"));
                if pop {
                    let last = model.get(&n).and_then(|l| l.last().copied());
                    table.pop(crowded_hash(n), &t, last.unwrap_or(position));
                    if let Some(list) = model.get_mut(&n) {
                        list.pop();
                        if list.is_empty() {
                            model.remove(&n);
                        }
                    }
                } else {
                    table.push(crowded_hash(n), &t, entry(position, 0));
                    model.entry(n).or_default().push(position);
                }
                for n in 0..48u8 {
                    let t = tag(&format!("t:{n}"));
                    let found: Vec<Pos> = table
                        .find(crowded_hash(n), &t)
                        .map(|e| e.entries.iter().map(|&e| position_of(e)).collect())
                        .unwrap_or_default();
                    prop_assert_eq!(found, model.get(&n).cloned().unwrap_or_default());
                }
                prop_assert_eq!(table.len, model.len());
            }
        }
    }
}
