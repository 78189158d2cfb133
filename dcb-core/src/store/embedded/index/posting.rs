//! A tag's *posting*: the entries of a tag with few events, in one value
//! under one key of the `postings` section.
//!
//! A decision's read selects by tags that each have a handful of events (a
//! course's, a student's). A posting gives them with one point lookup,
//! which every table that lacks the key skips by its bloom filter, where a
//! range of keys would seek in every table, and a lookup that finds nothing
//! is as cheap: a tag that was never handed down costs no seek at all.
//!
//! A tag with more than [`MAX_ENTRIES`] events *spills*: the run that
//! takes it over the limit writes its posting as a mark and every entry of
//! the tag as a key of its own in the `tags` section, where its later
//! events go too, and reads walk that range as before. So a posting is
//! rewritten whole by each run that adds to it, at most [`MAX_ENTRIES`]
//! entries each time.

use super::Location;
use crate::store::engine::Pos;

/// The most entries a posting holds before its tag spills.
pub(super) const MAX_ENTRIES: usize = 64;

/// One event of a tag: its position, its type's id and its location — a
/// key of the `tags` section and its value, side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) position: Pos,
    pub(super) type_id: u32,
    pub(super) location: Location,
}

impl Entry {
    /// The bytes of the entry's value in the `tags` section: its type id,
    /// then its location.
    pub(super) fn value(&self) -> [u8; Entry::VALUE_LEN] {
        let mut value = [0; Entry::VALUE_LEN];
        value[..4].copy_from_slice(&self.type_id.to_be_bytes());
        value[4..].copy_from_slice(&self.location.to_bytes());
        value
    }

    /// The entry of `position` whose value in the `tags` section is
    /// `value`; `None` if the value is not one.
    pub(super) fn from_value(position: Pos, value: &[u8]) -> Option<Entry> {
        if value.len() != Entry::VALUE_LEN {
            return None;
        }
        Some(Entry {
            position,
            type_id: u32::from_be_bytes(value[..4].try_into().ok()?),
            location: Location::from_bytes(&value[4..])?,
        })
    }

    const VALUE_LEN: usize = 4 + Location::LEN;
    const LEN: usize = 8 + Entry::VALUE_LEN;
}

/// What the `postings` section holds for a tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Posting {
    /// Every entry of the tag, by position.
    Entries(Vec<Entry>),
    /// The tag's entries are in the `tags` section.
    Spilled,
}

/// The first byte of a posting's value.
const ENTRIES: u8 = 0;
const SPILLED: u8 = 1;

impl Posting {
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        match self {
            Posting::Spilled => vec![SPILLED],
            Posting::Entries(entries) => {
                let mut bytes = Vec::with_capacity(1 + entries.len() * Entry::LEN);
                bytes.push(ENTRIES);
                for entry in entries {
                    bytes.extend_from_slice(&entry.position.to_be_bytes());
                    bytes.extend_from_slice(&entry.value());
                }
                bytes
            }
        }
    }

    /// The posting whose value is `bytes`; `None` if they are not one.
    pub(super) fn from_bytes(bytes: &[u8]) -> Option<Posting> {
        let (&kind, rest) = bytes.split_first()?;
        match kind {
            SPILLED if rest.is_empty() => Some(Posting::Spilled),
            ENTRIES if rest.len() % Entry::LEN == 0 => rest
                .chunks_exact(Entry::LEN)
                .map(|chunk| {
                    let position = Pos::from_be_bytes(chunk[..8].try_into().ok()?);
                    Entry::from_value(position, &chunk[8..])
                })
                .collect::<Option<Vec<Entry>>>()
                .map(Posting::Entries),
            _ => None,
        }
    }
}

/// The entries of `entries` (by position) in `(after, upto]`.
pub(super) fn within(entries: &[Entry], after: Pos, upto: Pos) -> &[Entry] {
    let start = entries.partition_point(|entry| entry.position <= after);
    let end = entries.partition_point(|entry| entry.position <= upto);
    &entries[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    fn entry(position: Pos) -> Entry {
        Entry {
            position,
            type_id: 7,
            location: Location {
                segment: 3,
                offset: position * 100,
                len: 90,
                crc: 0xfeed_f00d,
                recorded_at: Some(Timestamp::from_micros(1_796_489_435_123_456)),
            },
        }
    }

    #[test]
    fn a_posting_reads_back_from_its_bytes() {
        for posting in [
            Posting::Spilled,
            Posting::Entries(Vec::new()),
            Posting::Entries(vec![entry(1), entry(5), entry(1 << 40)]),
        ] {
            assert_eq!(Posting::from_bytes(&posting.to_bytes()), Some(posting));
        }
        let bytes = Posting::Entries(vec![entry(1)]).to_bytes();
        assert_eq!(Posting::from_bytes(&bytes[..bytes.len() - 1]), None);
        assert_eq!(Posting::from_bytes(&[SPILLED, 0]), None);
        assert_eq!(Posting::from_bytes(&[9]), None);
        assert_eq!(Posting::from_bytes(&[]), None);
    }

    #[test]
    fn within_keeps_the_entries_after_one_position_up_to_another() {
        let entries: Vec<Entry> = [2, 4, 6, 8].into_iter().map(entry).collect();
        let positions = |after, upto| -> Vec<Pos> {
            within(&entries, after, upto)
                .iter()
                .map(|e| e.position)
                .collect()
        };
        assert_eq!(positions(0, 100), [2, 4, 6, 8]);
        assert_eq!(positions(2, 6), [4, 6]);
        assert_eq!(positions(3, 7), [4, 6]);
        assert_eq!(positions(8, 100), Vec::<Pos>::new());
        assert_eq!(positions(6, 2), Vec::<Pos>::new());
    }
}
