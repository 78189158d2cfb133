//! [`TagIndex`]: the posting list of every tag.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry as Slot;
use smallvec::{SmallVec, smallvec};

use super::state::Entry;
use crate::Tag;

/// Most tags name one thing (a student, a course) and carry few events, so
/// their first entries live inline: no allocation per new tag.
type PostingList = SmallVec<[Entry; 2]>;

/// A tag's text as the table keeps it: inline up to 48 bytes (a prefix and
/// a UUID fit), so that confirming a hash match reads no other cache line.
type TagText = SmallVec<[u8; 48]>;

/// One tag's posting list, with the tag's hash kept so that growing the
/// table never has to read the tag's text again.
struct TagEntry {
    hash: u64,
    text: TagText,
    entries: PostingList,
}

/// The posting list of every tag.
#[derive(Default)]
pub(crate) struct TagIndex {
    hasher: RandomState,
    table: HashTable<TagEntry>,
}

impl TagIndex {
    /// An empty index with room for `tags` distinct tags.
    pub(crate) fn with_capacity(tags: usize) -> TagIndex {
        TagIndex {
            hasher: RandomState::default(),
            table: HashTable::with_capacity(tags),
        }
    }

    /// The hash the table files `tag` under; an append computes it once
    /// per tag for [`touch`](Self::touch) and [`push`](Self::push).
    pub(crate) fn hash(&self, tag: &Tag) -> u64 {
        self.hasher.hash_one(tag.as_str())
    }

    /// The entries of `tag`, ascending; empty when no event carries it.
    pub(crate) fn get(&self, tag: &Tag) -> &[Entry] {
        self.find(tag, self.hash(tag))
            .map_or(&[], |e| e.entries.as_slice())
    }

    /// Reads what [`push`](Self::push) of `tag` will change — its slot and
    /// the end of its posting list — and changes nothing: looking up every
    /// tag of an event before pushing any lets their cache misses overlap.
    /// The result only exists to be consumed (`std::hint::black_box`).
    pub(crate) fn touch(&self, tag: &Tag, hash: u64) -> Entry {
        self.find(tag, hash)
            .and_then(|e| e.entries.last().copied())
            .unwrap_or_default()
    }

    fn find(&self, tag: &Tag, hash: u64) -> Option<&TagEntry> {
        self.table.find(hash, |e| {
            e.hash == hash && e.text.as_slice() == tag.as_str().as_bytes()
        })
    }

    /// Removes the last entry of `tag`'s list if it is at `position`, and
    /// the tag itself when no entry is left: the rollback of [`push`](Self::push).
    pub(crate) fn pop(&mut self, tag: &Tag, position: super::state::Pos) {
        let hash = self.hash(tag);
        let Ok(mut slot) = self.table.find_entry(hash, |e| {
            e.hash == hash && e.text.as_slice() == tag.as_str().as_bytes()
        }) else {
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
    /// `hash`; entries must be pushed in ascending order.
    pub(crate) fn push(&mut self, tag: &Tag, hash: u64, entry: Entry) {
        match self.table.entry(
            hash,
            |e| e.hash == hash && e.text.as_slice() == tag.as_str().as_bytes(),
            |e| e.hash,
        ) {
            Slot::Occupied(mut slot) => slot.get_mut().entries.push(entry),
            Slot::Vacant(slot) => {
                slot.insert(TagEntry {
                    hash,
                    text: TagText::from_slice(tag.as_str().as_bytes()),
                    entries: smallvec![entry],
                });
            }
        }
    }
}
