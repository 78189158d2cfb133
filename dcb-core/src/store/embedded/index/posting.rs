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

use integer_encoding::VarInt;

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
    /// An entry in a posting of index format 5: its position (big-endian),
    /// then its [`value`](Self::value).
    const FIXED_LEN: usize = 8 + Entry::VALUE_LEN;
}

/// What the `postings` section holds for a tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Posting {
    /// Every entry of the tag, by position.
    Entries(Vec<Entry>),
    /// The tag's entries are in the `tags` section.
    Spilled,
}

/// The first byte of a posting's value: entries in 44 fixed bytes each
/// (written by index format 5, read still: such an index is not rebuilt,
/// and its postings take the new form as runs rewrite them), a spilled
/// tag, entries as varints.
const FIXED_ENTRIES: u8 = 0;
const SPILLED: u8 = 1;
const ENTRIES: u8 = 2;

impl Posting {
    /// The posting's value: [`SPILLED`], or [`ENTRIES`] and each entry in
    /// a few bytes (see [`put_entry`]), about 25 for a tag's first entry
    /// and 17 for each later one, where fixed widths took 44. Most keys of
    /// `postings` are tags of one or a few events, so this is most of the
    /// section: what the index writes, compacts and reads.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        match self {
            Posting::Spilled => vec![SPILLED],
            Posting::Entries(entries) => Posting::entries_to_bytes(entries),
        }
    }

    /// The value of a posting of `entries`, as [`to_bytes`](Self::to_bytes)
    /// writes it, without the posting.
    pub(super) fn entries_to_bytes(entries: &[Entry]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(1 + entries.len() * 32);
        bytes.push(ENTRIES);
        let mut before = Previous::default();
        for entry in entries {
            put_entry(&mut bytes, entry, &mut before);
        }
        bytes
    }

    /// The value index format 5 wrote for a posting of `entries`: each
    /// entry's position (big-endian), then its [`value`](Entry::value).
    #[cfg(test)]
    pub(super) fn format_5_bytes(entries: &[Entry]) -> Vec<u8> {
        let mut bytes = vec![FIXED_ENTRIES];
        for entry in entries {
            bytes.extend_from_slice(&entry.position.to_be_bytes());
            bytes.extend_from_slice(&entry.value());
        }
        bytes
    }

    /// The posting whose value is `bytes`; `None` if they are not one.
    pub(super) fn from_bytes(bytes: &[u8]) -> Option<Posting> {
        let (&kind, mut rest) = bytes.split_first()?;
        match kind {
            SPILLED if rest.is_empty() => Some(Posting::Spilled),
            FIXED_ENTRIES if rest.len() % Entry::FIXED_LEN == 0 => rest
                .chunks_exact(Entry::FIXED_LEN)
                .map(|chunk| {
                    let (position, value) = chunk.split_first_chunk::<8>()?;
                    Entry::from_value(Pos::from_be_bytes(*position), value)
                })
                .collect::<Option<Vec<Entry>>>()
                .map(Posting::Entries),
            ENTRIES => {
                let mut entries = Vec::new();
                let mut before = Previous::default();
                while !rest.is_empty() {
                    entries.push(take_entry(&mut rest, &mut before)?);
                }
                Some(Posting::Entries(entries))
            }
            _ => None,
        }
    }
}

/// What an entry of a posting is written against: the entry before it
/// (zero before the first).
#[derive(Default)]
struct Previous {
    position: Pos,
    micros: i64,
}

/// Appends `entry` to `bytes`: as LEB128 varints, its position after the
/// previous entry's, its type id, how far its position lies past its
/// segment's first, its offset and length in the segment; then its CRC-32
/// (four bytes, little-endian) and its time after the previous entry's
/// (a signed varint). Differences wrap, so every entry encodes, in order or
/// not.
fn put_entry(bytes: &mut Vec<u8>, entry: &Entry, before: &mut Previous) {
    let location = &entry.location;
    let micros = location.micros();
    put(bytes, entry.position.wrapping_sub(before.position));
    put(bytes, entry.type_id);
    put(bytes, entry.position.wrapping_sub(location.segment));
    put(bytes, location.offset);
    put(bytes, location.len);
    bytes.extend_from_slice(&location.crc.to_le_bytes());
    put(bytes, micros.wrapping_sub(before.micros));
    *before = Previous {
        position: entry.position,
        micros,
    };
}

/// The entry at the start of `bytes`, as [`put_entry`] wrote it, and
/// `bytes` moved past it; `None` if they do not start with one.
fn take_entry(bytes: &mut &[u8], before: &mut Previous) -> Option<Entry> {
    let position = before.position.wrapping_add(take::<u64>(bytes)?);
    let type_id = take::<u32>(bytes)?;
    let segment = position.wrapping_sub(take::<u64>(bytes)?);
    let offset = take::<u64>(bytes)?;
    let len = take::<u32>(bytes)?;
    let (crc, rest) = bytes.split_first_chunk::<4>()?;
    *bytes = rest;
    let micros = before.micros.wrapping_add(take::<i64>(bytes)?);
    *before = Previous { position, micros };
    Some(Entry {
        position,
        type_id,
        location: Location {
            segment,
            offset,
            len,
            crc: u32::from_le_bytes(*crc),
            recorded_at: Location::time_of(micros),
        },
    })
}

/// Appends `value` to `bytes` as a varint.
pub(super) fn put(bytes: &mut Vec<u8>, value: impl VarInt) {
    let mut buffer = [0; 10];
    let n = value.encode_var(&mut buffer);
    bytes.extend_from_slice(&buffer[..n]);
}

/// The varint at the start of `bytes`, and `bytes` moved past it.
pub(super) fn take<V: VarInt>(bytes: &mut &[u8]) -> Option<V> {
    let (value, n) = V::decode_var(bytes)?;
    *bytes = bytes.get(n..)?;
    Some(value)
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
                segment: position.saturating_sub(5_000),
                offset: position.wrapping_mul(100) % (64 << 20),
                len: 90,
                crc: 0xfeed_f00d,
                recorded_at: Some(Timestamp::from_micros(1_796_489_435_123_456)),
            },
        }
    }

    #[test]
    fn a_posting_reads_back_from_its_bytes() {
        let mut unknown_time = entry(9);
        unknown_time.location.recorded_at = None;
        let mut extremes = entry(u64::MAX);
        extremes.type_id = u32::MAX;
        extremes.location.offset = u64::MAX;
        extremes.location.len = u32::MAX;
        let mut segment_after = entry(3);
        segment_after.location.segment = 1 << 50;
        for posting in [
            Posting::Spilled,
            Posting::Entries(Vec::new()),
            Posting::Entries(vec![entry(1), entry(5), entry(1 << 40)]),
            // Out of order, times unknown or going back, every field at
            // its widest: each reads back as it was.
            Posting::Entries(vec![
                entry(7),
                unknown_time,
                entry(2),
                extremes,
                segment_after,
            ]),
        ] {
            assert_eq!(Posting::from_bytes(&posting.to_bytes()), Some(posting));
        }
    }

    #[test]
    fn bytes_that_are_no_posting_are_refused() {
        let bytes = Posting::Entries(vec![entry(1), entry(2)]).to_bytes();
        for end in 2..bytes.len() {
            let cut = &bytes[..end];
            assert!(
                Posting::from_bytes(cut)
                    .is_none_or(|posting| posting != Posting::Entries(vec![entry(1), entry(2)])),
                "{cut:?}"
            );
        }
        // A cut inside the first entry, or inside the last, leaves an entry
        // unfinished.
        let first = Posting::Entries(vec![entry(1)]).to_bytes().len();
        assert_eq!(Posting::from_bytes(&bytes[..first - 1]), None);
        assert_eq!(Posting::from_bytes(&bytes[..bytes.len() - 1]), None);
        // A varint that never ends.
        assert_eq!(Posting::from_bytes(&[ENTRIES, 0xff, 0xff]), None);
        assert_eq!(Posting::from_bytes(&[SPILLED, 0]), None);
        assert_eq!(Posting::from_bytes(&[FIXED_ENTRIES, 1, 2]), None);
        assert_eq!(Posting::from_bytes(&[9]), None);
        assert_eq!(Posting::from_bytes(&[]), None);
    }

    #[test]
    fn a_posting_of_index_format_5_reads_as_it_was_written() {
        let entries = vec![entry(1), entry(5), entry(1 << 40)];
        let bytes = Posting::format_5_bytes(&entries);
        assert_eq!(Posting::from_bytes(&bytes), Some(Posting::Entries(entries)));
        assert_eq!(Posting::from_bytes(&bytes[..bytes.len() - 1]), None);
    }

    #[test]
    fn entries_take_a_few_bytes_each() {
        let one = Posting::Entries(vec![entry(100_000_000)]).to_bytes().len();
        let ten = Posting::Entries((0..10).map(|k| entry(100_000_000 + k * 1_000)).collect())
            .to_bytes()
            .len();
        assert!(one <= 32, "{one} bytes for one entry");
        assert!((ten - one) / 9 <= 20, "{ten} bytes for ten entries");
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
