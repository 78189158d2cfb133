//! The `events` section: where each event lies in the log, by blocks of
//! positions.
//!
//! Positions fall in aligned blocks of [`BLOCK`] (1–64, 65–128, …). A run
//! puts one key for each block it reaches into: the key of the run's first
//! position in the block, whose value holds the run's events in that block
//! as a posting's entries do (varints, a few bytes each; see
//! [`posting`](super::posting)). So a run of `n` events puts about `n / 64`
//! keys here rather than `n`, and the section is a fraction of its size:
//! fewer keys for the index to write and merge (docs/decisions/0032).
//!
//! A position's entry is in the block's last key at or before it: runs
//! follow one another, each starting where the index ended, and a run
//! written again after a crash starts where the lost one did, so it puts
//! the same keys again, each with the same events or more.
//!
//! An index created before format 7 keeps one key per event, its value the
//! event's [`Location`] ([`Location::LEN`] bytes, whose first byte, the
//! top byte of a segment's first position, is 0), and goes on writing so
//! ([`Layout::Each`]); reads take both forms.

use super::Location;
use super::keys;
use super::posting::{Entry, Posting};
use super::run::Run;
use crate::store::engine::Pos;

/// The positions in a block.
pub(super) const BLOCK: Pos = 64;

/// How an index keeps its `events` section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    /// One key per block of positions (format 7 on).
    Blocks,
    /// One key per event (an index created before format 7).
    Each,
}

/// The first position of the block that holds `position` (positions
/// start at 1).
pub(super) fn block_start(position: Pos) -> Pos {
    aligned_start(position, BLOCK)
}

/// The first position of the aligned block of `size` positions that holds
/// `position` (positions start at 1; blocks are 1–`size`, …).
pub(super) fn aligned_start(position: Pos, size: Pos) -> Pos {
    position.saturating_sub(1) / size * size + 1
}

/// Puts `entries`, the events of one run in order of position, into `run`
/// as `layout` keeps them.
pub(super) fn put(run: &mut Run, entries: &[Entry], layout: Layout) {
    match layout {
        Layout::Blocks => {
            for block in entries.chunk_by(|a, b| block_start(a.position) == block_start(b.position))
            {
                run.put(
                    keys::event(block[0].position),
                    &Posting::entries_to_bytes(block),
                );
            }
        }
        Layout::Each => {
            for entry in entries {
                run.put(keys::event(entry.position), &entry.location.to_bytes());
            }
        }
    }
}

/// The events that the key of `position` in the `events` section holds, with
/// `value`, by position; `None` if the value is no such thing.
pub(super) fn decode(position: Pos, value: &[u8]) -> Option<Vec<(Pos, Location)>> {
    if value.len() == Location::LEN && value[0] == 0 {
        return Some(vec![(position, Location::from_bytes(value)?)]);
    }
    let Posting::Entries(entries) = Posting::from_bytes(value)? else {
        return None;
    };
    let in_block = |entry: &Entry| block_start(entry.position) == block_start(position);
    let ordered = entries.windows(2).all(|w| w[0].position < w[1].position);
    (entries.first()?.position == position && ordered && entries.iter().all(in_block))
        .then(|| entries.iter().map(|e| (e.position, e.location)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    fn entry(position: Pos) -> Entry {
        Entry {
            position,
            type_id: 3,
            location: Location {
                segment: 1,
                offset: position * 100,
                len: 90,
                crc: 0xdead_beef,
                recorded_at: Some(Timestamp::from_micros(1_796_489_435_000_000)),
            },
        }
    }

    #[test]
    fn blocks_are_aligned_from_position_1() {
        assert_eq!(
            [1, 2, 64, 65, 128, 129].map(block_start),
            [1, 1, 1, 65, 65, 129]
        );
    }

    /// A run from 60 to 140 puts three keys, at 60, 65 and 129, and each
    /// reads back as its part of the run.
    #[test]
    fn a_run_puts_one_key_per_block_it_reaches() {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let sections = super::super::sections::Sections::open(&db).unwrap();
        let entries: Vec<Entry> = (60..=140).map(entry).collect();
        let mut run = Run::default();
        put(&mut run, &entries, Layout::Blocks);
        run.ingest(&sections).unwrap();
        let keys: Vec<(Pos, Vec<(Pos, Location)>)> = sections
            .prefix(&[keys::EVENTS])
            .map(|guard| {
                let (key, value) = guard.into_inner().unwrap();
                let at = keys::position_at_end(&key).unwrap();
                (at, decode(at, &value).unwrap())
            })
            .collect();
        let firsts: Vec<Pos> = keys.iter().map(|(at, _)| *at).collect();
        assert_eq!(firsts, [60, 65, 129]);
        let read: Vec<(Pos, Location)> = keys.into_iter().flat_map(|(_, events)| events).collect();
        let expected: Vec<(Pos, Location)> =
            entries.iter().map(|e| (e.position, e.location)).collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn a_key_of_one_event_per_key_reads_as_its_location() {
        let location = entry(7).location;
        assert_eq!(decode(7, &location.to_bytes()), Some(vec![(7, location)]));
    }

    /// Values that are no block of the key's position are refused: entries
    /// that start elsewhere, reach into the next block, or are cut.
    #[test]
    fn values_that_are_no_block_of_the_key_are_refused() {
        let block = Posting::entries_to_bytes(&[entry(61), entry(62)]);
        assert!(decode(61, &block).is_some());
        assert_eq!(decode(60, &block), None);
        assert_eq!(decode(61, &block[..block.len() - 1]), None);
        assert_eq!(
            decode(64, &Posting::entries_to_bytes(&[entry(64), entry(65)])),
            None
        );
        assert_eq!(
            decode(61, &Posting::entries_to_bytes(&[entry(61), entry(61)])),
            None
        );
        assert_eq!(decode(1, &[]), None);
    }
}
