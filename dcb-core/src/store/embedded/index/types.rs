//! The `types` section: each event type's positions, by blocks of
//! positions.
//!
//! Positions fall in aligned blocks of [`BLOCK`] (1–1024, 1025–2048, …). A
//! run puts one key for each type and block it reaches into: the key of
//! the type's first position of the run in the block, whose value lists
//! the type's later positions of the run in that block, each as a varint
//! of its distance from the one before (a byte for a type that is
//! frequent). So a run puts a few keys here per thousand events rather
//! than a key per event: fewer keys for the index to write and merge
//! (docs/decisions/0033-types-by-blocks.md).
//!
//! As in `events` (see [`blocks`](super::blocks)), runs follow one
//! another, and a run written again after a crash starts where the lost
//! one did, so it puts the same keys again, each with the same positions
//! or more: a type's keys, in order, list its positions in order, none
//! twice.
//!
//! An index created before format 8 keeps one key per event, its value
//! empty ([`Layout::Each`]); such a key reads as the one position, and the
//! index goes on writing so.

use std::collections::HashMap;

use super::blocks::Layout;
use super::keys;
use super::posting;
use super::run::Run;
use crate::model::error::BackendError;
use crate::store::engine::Pos;

/// The positions in a block of `types`: a block of a frequent type takes
/// about a kilobyte, and a read that starts inside one decodes that much
/// before its first position.
pub(super) const BLOCK: Pos = 1024;

/// The first position of the block of `types` that holds `position`
/// (positions start at 1).
pub(super) fn block_start(position: Pos) -> Pos {
    super::blocks::aligned_start(position, BLOCK)
}

/// A type's key being filled by a run: its first position, the last one
/// so far, and the distances after the first.
struct Open {
    first: Pos,
    last: Pos,
    distances: Vec<u8>,
}

/// Puts `events`, each event of one run as its position and its type's
/// id, in order of position, into `run` as `layout` keeps them.
pub(super) fn put(run: &mut Run, events: impl IntoIterator<Item = (Pos, u32)>, layout: Layout) {
    if layout == Layout::Each {
        for (position, type_id) in events {
            run.put(keys::type_at(type_id, position), &[]);
        }
        return;
    }
    let mut open: HashMap<u32, Open> = HashMap::new();
    for (position, type_id) in events {
        let start = Open {
            first: position,
            last: position,
            distances: Vec::new(),
        };
        match open.get_mut(&type_id) {
            None => {
                open.insert(type_id, start);
            }
            Some(key) if block_start(key.first) == block_start(position) => {
                posting::put(&mut key.distances, position - key.last);
                key.last = position;
            }
            Some(key) => {
                let full = std::mem::replace(key, start);
                run.put(keys::type_at(type_id, full.first), &full.distances);
            }
        }
    }
    for (type_id, key) in open {
        run.put(keys::type_at(type_id, key.first), &key.distances);
    }
}

/// The positions that the key of `first` in the `types` section holds,
/// with `value`, in order; `None` if the value is no such thing.
pub(super) fn decode(first: Pos, mut value: &[u8]) -> Option<Vec<Pos>> {
    let mut positions = vec![first];
    let mut last = first;
    while !value.is_empty() {
        let distance: Pos = posting::take(&mut value)?;
        last = last.checked_add(distance).filter(|_| distance > 0)?;
        if block_start(last) != block_start(first) {
            return None;
        }
        positions.push(last);
    }
    Some(positions)
}

/// Up to `max` positions of the type with id `type_id` in `(after,
/// upto]`, in the direction asked, from the `types` keys in `keys`, which
/// cover the range as [`range`] gives it; `on_position` takes each, and
/// the count is returned.
pub(super) fn walk(
    keys: fjall::Iter,
    (after, upto): (Pos, Pos),
    backwards: bool,
    max: usize,
    mut on_position: impl FnMut(Pos),
) -> Result<usize, BackendError> {
    let mut found = 0;
    let mut visit = |guard: fjall::Guard| -> Result<bool, BackendError> {
        let (key, value) = guard.into_inner().map_err(super::index_error)?;
        let first = keys::position_at_end(&key).unwrap_or_default();
        let mut positions = decode(first, &value).ok_or_else(|| {
            BackendError::new(format!(
                "the index's entry for the events of a type from position {first} is \
                 damaged; delete the store's index/ directory to rebuild it from the log"
            ))
        })?;
        if backwards {
            positions.reverse();
        }
        for position in positions {
            if after < position && position <= upto {
                on_position(position);
                found += 1;
                if found == max {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    };
    super::walk_keys(keys, backwards, &mut visit)?;
    Ok(found)
}

/// The keys of `type_id` in `types` whose positions may fall in `(after,
/// upto]`: from the start of the block of `after + 1` on, where a key of
/// that block may hold positions after its own.
pub(super) fn range(
    type_id: u32,
    (after, upto): (Pos, Pos),
    layout: Layout,
) -> std::ops::RangeInclusive<[u8; 13]> {
    let from = match layout {
        Layout::Blocks => block_start(after + 1),
        Layout::Each => after + 1,
    };
    keys::type_at(type_id, from)..=keys::type_at(type_id, upto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_from_position_1() {
        assert_eq!(
            [1, 2, 1024, 1025, 2048, 2049].map(block_start),
            [1, 1, 1, 1025, 1025, 2049]
        );
    }

    /// The keys a run puts, by type, each with the positions it lists.
    fn keys_of(events: &[(Pos, u32)]) -> Vec<(u32, Pos, Vec<Pos>)> {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let sections = super::super::sections::Sections::open(&db).unwrap();
        let mut run = Run::default();
        put(&mut run, events.iter().copied(), Layout::Blocks);
        run.ingest(&sections).unwrap();
        sections
            .prefix(&[keys::TYPES])
            .map(|guard| {
                let (key, value) = guard.into_inner().unwrap();
                let type_id = u32::from_be_bytes(key[1..5].try_into().unwrap());
                let first = keys::position_at_end(&key).unwrap();
                (type_id, first, decode(first, &value).unwrap())
            })
            .collect()
    }

    /// A run from 1000 to 2100 of two types, one at every third position
    /// and the other elsewhere, puts a key per type and block: at the
    /// type's first position in each.
    #[test]
    fn a_run_puts_one_key_per_type_and_block_it_reaches() {
        let events: Vec<(Pos, u32)> = (1000..=2100).map(|p| (p, u32::from(p % 3 == 0))).collect();
        let keys = keys_of(&events);
        let firsts: Vec<(u32, Pos)> = keys.iter().map(|&(t, first, _)| (t, first)).collect();
        assert_eq!(
            firsts,
            [
                (0, 1000),
                (0, 1025),
                (0, 2050),
                (1, 1002),
                (1, 1026),
                (1, 2049)
            ]
        );
        for type_id in [0, 1] {
            let listed: Vec<Pos> = keys
                .iter()
                .filter(|k| k.0 == type_id)
                .flat_map(|k| k.2.clone())
                .collect();
            let expected: Vec<Pos> = events
                .iter()
                .filter(|e| e.1 == type_id)
                .map(|e| e.0)
                .collect();
            assert_eq!(listed, expected, "type {type_id}");
        }
    }

    #[test]
    fn a_key_of_one_event_per_key_reads_as_its_position() {
        assert_eq!(decode(7, &[]), Some(vec![7]));
    }

    /// Values that are no list of the key's block are refused: a distance
    /// of zero, one that reaches into the next block or past the last
    /// position, or a varint cut short.
    #[test]
    fn values_that_are_no_list_of_the_key_are_refused() {
        assert_eq!(decode(1000, &[3, 20]), Some(vec![1000, 1003, 1023]));
        assert_eq!(decode(1000, &[0]), None);
        assert_eq!(decode(1000, &[3, 22]), None);
        assert_eq!(decode(1000, &[0x80]), None);
        assert_eq!(decode(Pos::MAX, &[1]), None);
    }
}
