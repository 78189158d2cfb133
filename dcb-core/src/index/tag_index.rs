//! [`TagIndex`]: the posting list of every tag.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use hashbrown::hash_table::{Entry as Slot, IterHashBuckets};
use smallvec::{SmallVec, smallvec};

use super::state::Entry;
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
enum TagText {
    Inline { len: u8, bytes: [u8; INLINE_TEXT] },
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
        }
    }
}

/// One tag's posting list, with the tag's hash kept so that growing the
/// table never has to read the tag's text again. An entry is one cache
/// line, aligned: a lookup or an insert touches one line of the table, and
/// a table of millions of tags stays small enough to grow quickly.
#[repr(align(64))]
struct TagEntry {
    hash: u64,
    entries: PostingList,
    text: TagText,
}

const _: () = assert!(size_of::<TagEntry>() == 64);

/// The most tags [`TagIndex::locate_all`] looks up at once.
pub(crate) const MAX_LOCATE: usize = 16;

/// The number of tables the tags are spread over, by hash.
const SHARDS: usize = 256;

/// The posting list of every tag, in [`SHARDS`] tables chosen by the tag's
/// hash. Each table grows on its own, a small step at a time: one table of
/// millions of tags would move them all in the one append that outgrows it
/// (over 100 ms at two million tags, most of it faulting in the new table's
/// fresh pages).
pub(crate) struct TagIndex {
    hasher: RandomState,
    tables: Box<[HashTable<TagEntry>]>,
}

impl Default for TagIndex {
    fn default() -> TagIndex {
        TagIndex::with_capacity(0)
    }
}

/// The table of `hash`: bits the tables' own probing does not use (the
/// low bits pick a slot, the top seven filter candidates).
fn shard(hash: u64) -> usize {
    // Masked to eight bits, so the cast is lossless.
    #[allow(clippy::cast_possible_truncation)]
    let shard = ((hash >> 48) & 0xff) as usize;
    shard
}

impl TagIndex {
    /// An empty index with room for `tags` distinct tags.
    pub(crate) fn with_capacity(tags: usize) -> TagIndex {
        let per_table = tags.div_ceil(SHARDS);
        TagIndex {
            hasher: RandomState::default(),
            tables: (0..SHARDS)
                .map(|_| HashTable::with_capacity(per_table))
                .collect(),
        }
    }

    fn table(&self, hash: u64) -> &HashTable<TagEntry> {
        &self.tables[shard(hash)]
    }

    fn table_mut(&mut self, hash: u64) -> &mut HashTable<TagEntry> {
        &mut self.tables[shard(hash)]
    }

    /// The hash the table files `tag` under; an append computes it once
    /// per tag for [`locate_all`](Self::locate_all) and [`push`](Self::push).
    pub(crate) fn hash(&self, tag: &Tag) -> u64 {
        self.hasher.hash_one(tag.as_str())
    }

    /// The entries of `tag`, ascending; empty when no event carries it.
    pub(crate) fn get(&self, tag: &Tag) -> &[Entry] {
        self.find(tag, self.hash(tag))
            .map_or(&[], |e| e.entries.as_slice())
    }

    /// Makes room for `tags` new tags in the table of `hash`, so that its
    /// next `tags` inserts do not move it (and the slots
    /// [`locate_all`](Self::locate_all) found there).
    pub(crate) fn reserve(&mut self, hash: u64, tags: usize) {
        self.table_mut(hash).reserve(tags, |e| e.hash);
    }

    /// Locates several tags at once: `located[i]` becomes `(hash, slot)`
    /// for `probes[i] = (hash, Some(tag))`, where `slot` is the tag's slot
    /// or `None` when no event carries it yet. Probes without a tag are
    /// skipped.
    ///
    /// The lookups run in stages — every tag's control bytes, then every
    /// candidate slot, then the end of every posting list found (which
    /// [`push`](Self::push) will change) — so that the cache misses of one
    /// stage, likely in a table of millions of tags, are all in flight at
    /// once instead of queueing one lookup behind another.
    pub(crate) fn locate_all(
        &self,
        probes: &[(u64, Option<&Tag>); MAX_LOCATE],
        located: &mut [(u64, Option<usize>); MAX_LOCATE],
    ) {
        let mut groups: [Option<IterHashBuckets<'_, TagEntry>>; MAX_LOCATE] =
            [const { None }; MAX_LOCATE];
        for (group, &(hash, tag)) in groups.iter_mut().zip(probes) {
            if tag.is_some() {
                *group = Some(self.table(hash).iter_hash_buckets(hash));
            }
        }
        let mut first = [None; MAX_LOCATE];
        let mut seen = [0; MAX_LOCATE];
        for ((first, seen), (group, &(hash, _))) in first
            .iter_mut()
            .zip(&mut seen)
            .zip(groups.iter_mut().zip(probes))
        {
            *first = group.as_mut().and_then(Iterator::next);
            *seen = first
                .and_then(|slot| self.table(hash).get_bucket(slot))
                .map_or(0, |e| e.hash);
        }
        std::hint::black_box(&seen);
        for (i, ((located, &(hash, tag)), group)) in
            located.iter_mut().zip(probes).zip(&mut groups).enumerate()
        {
            let Some(tag) = tag else {
                continue;
            };
            let mut candidate = first[i];
            let slot = loop {
                let Some(slot) = candidate else {
                    break None;
                };
                if self
                    .table(hash)
                    .get_bucket(slot)
                    .is_some_and(|e| e.hash == hash && e.text.is(tag))
                {
                    break Some(slot);
                }
                candidate = group.as_mut().and_then(Iterator::next);
            };
            *located = (hash, slot);
        }
        let mut ends = [0; MAX_LOCATE];
        for (end, &(hash, slot)) in ends.iter_mut().zip(located.iter()) {
            *end = slot
                .and_then(|slot| self.table(hash).get_bucket(slot))
                .and_then(|e| e.entries.last().copied())
                .unwrap_or_default();
        }
        std::hint::black_box(&ends);
    }

    fn find(&self, tag: &Tag, hash: u64) -> Option<&TagEntry> {
        self.table(hash)
            .find(hash, |e| e.hash == hash && e.text.is(tag))
    }

    /// Removes the last entry of `tag`'s list if it is at `position`, and
    /// the tag itself when no entry is left: the rollback of [`push`](Self::push).
    pub(crate) fn pop(&mut self, tag: &Tag, position: super::state::Pos) {
        let hash = self.hash(tag);
        let Ok(mut slot) = self
            .table_mut(hash)
            .find_entry(hash, |e| e.hash == hash && e.text.is(tag))
        else {
            return;
        };
        let entries = &mut slot.get_mut().entries;
        if entries
            .last()
            .is_some_and(|&e| super::state::position_of(e) == position)
        {
            entries.pop();
        }
        if entries.is_empty() {
            slot.remove();
        }
    }

    /// Appends `entry` to the list of `tag`, whose [`hash`](Self::hash) is
    /// `hash` and whose slot is `slot` if [`locate_all`](Self::locate_all) found
    /// one (and the table has not moved since); entries must be pushed in
    /// ascending order.
    pub(crate) fn push(&mut self, tag: &Tag, hash: u64, slot: Option<usize>, entry: Entry) {
        if let Some(found) = slot.and_then(|s| self.table_mut(hash).get_bucket_mut(s))
            && found.hash == hash
            && found.text.is(tag)
        {
            found.entries.push(entry);
            return;
        }
        match self
            .table_mut(hash)
            .entry(hash, |e| e.hash == hash && e.text.is(tag), |e| e.hash)
        {
            Slot::Occupied(mut slot) => slot.get_mut().entries.push(entry),
            Slot::Vacant(slot) => {
                slot.insert(TagEntry {
                    hash,
                    entries: smallvec![entry],
                    text: TagText::new(tag),
                });
            }
        }
    }
}
