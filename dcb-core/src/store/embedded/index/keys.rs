//! The index's keys: a byte naming the section (events, tags, postings,
//! types, ids, meta; each a keyspace of its own, see
//! [`sections`](super::sections)), then big-endian positions after a
//! length-prefixed name, so that each tag's and each type's positions sort
//! together, in order.

use crate::store::engine::Pos;

/// The bytes that name the sections.
pub(super) const EVENTS: u8 = b'e';
pub(super) const TAGS: u8 = b't';
pub(super) const POSTINGS: u8 = b'p';
pub(super) const TYPES: u8 = b'y';
pub(super) const IDS: u8 = b'i';
pub(super) const META: u8 = b'm';

/// The key of the event at `position` in the `events` section.
pub(super) fn event(position: Pos) -> [u8; 9] {
    let mut key = [EVENTS; 9];
    key[1..].copy_from_slice(&position.to_be_bytes());
    key
}

/// The key of the event id `id` in the `ids` section.
pub(super) fn id(id: &uuid::Uuid) -> [u8; 17] {
    let mut key = [IDS; 17];
    key[1..].copy_from_slice(id.as_bytes());
    key
}

/// The key of the setting `name` in the `meta` section.
pub(super) fn meta(name: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + name.len());
    key.push(META);
    key.extend_from_slice(name);
    key
}

/// The position in a key that ends with one.
pub(super) fn position_at_end(key: &[u8]) -> Option<Pos> {
    let at = key.len().checked_sub(8)?;
    <[u8; 8]>::try_from(&key[at..]).ok().map(Pos::from_be_bytes)
}

/// The prefix of every key of `tag` in the `tags` section: its length
/// (tags are at most 256 bytes; the length keeps one tag's keys apart from
/// a longer tag's that starts the same) and its bytes.
pub(super) fn tag_prefix(tag: &str) -> Vec<u8> {
    named(TAGS, tag)
}

/// The key of `tag`'s posting in the `postings` section (see
/// [`posting`](super::posting)).
pub(super) fn posting(tag: &str) -> Vec<u8> {
    named(POSTINGS, tag)
}

/// `section`, then the length of `name` (at most 256 bytes: tags are) and
/// its bytes, with room for a position after them.
fn named(section: u8, name: &str) -> Vec<u8> {
    let len = u16::try_from(name.len()).unwrap_or(u16::MAX);
    let mut key = Vec::with_capacity(3 + name.len() + 8);
    key.push(section);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(name.as_bytes());
    key
}

/// The key of `tag` at `position` in the `tags` section.
pub(super) fn tag(prefix: &[u8], position: Pos) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&position.to_be_bytes());
    key
}

/// The key of the type with id `type_id` at `position` in the `types`
/// section.
pub(super) fn type_at(type_id: u32, position: Pos) -> [u8; 13] {
    let mut key = [TYPES; 13];
    key[1..5].copy_from_slice(&type_id.to_be_bytes());
    key[5..].copy_from_slice(&position.to_be_bytes());
    key
}

/// The key under which the id of the event type `name` is kept in the
/// `meta` section.
pub(super) fn type_name(name: &str) -> Vec<u8> {
    let mut key = TYPE_NAMES.to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

/// The prefix of every key of [`type_name`].
pub(super) const TYPE_NAMES: &[u8] = b"mtype:";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_one_tag_sort_by_position_and_apart_from_longer_tags() {
        let short = tag_prefix("a");
        let long = tag_prefix("ab");
        let mut keys = vec![tag(&long, 1), tag(&short, 256), tag(&short, 2)];
        keys.sort();
        assert_eq!(keys, [tag(&short, 2), tag(&short, 256), tag(&long, 1)]);
        assert_eq!(position_at_end(&keys[1]), Some(256));
        assert!(type_at(1, 300) < type_at(2, 1));
        assert!(type_at(1, 2) < type_at(1, 256));
    }
}
