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
    /// The entries of `tag`, ascending; empty when no event carries it.
    pub(crate) fn get(&self, tag: &Tag) -> &[Entry] {
        let hash = self.hasher.hash_one(tag.as_str());
        self.table
            .find(hash, |e| {
                e.hash == hash && e.text.as_slice() == tag.as_str().as_bytes()
            })
            .map_or(&[], |e| e.entries.as_slice())
    }

    /// Removes the last entry of `tag`'s list if it is at `position`, and
    /// the tag itself when no entry is left: the rollback of [`push`](Self::push).
    pub(crate) fn pop(&mut self, tag: &Tag, position: super::state::Pos) {
        let hash = self.hasher.hash_one(tag.as_str());
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

    /// Appends `entry` to the list of `tag`; entries must be pushed in
    /// ascending order.
    pub(crate) fn push(&mut self, tag: &Tag, entry: Entry) {
        let hash = self.hasher.hash_one(tag.as_str());
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
