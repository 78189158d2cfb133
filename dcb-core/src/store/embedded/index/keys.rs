//! The index's keys: big-endian positions after a length-prefixed name,
//! so that each tag's and each type's positions sort together, in order.

use crate::store::engine::Pos;

/// The key of the event at `position` in the `events` keyspace.
pub(super) fn event(position: Pos) -> [u8; 8] {
    position.to_be_bytes()
}

/// The position in a key that ends with one.
pub(super) fn position_at_end(key: &[u8]) -> Option<Pos> {
    let at = key.len().checked_sub(8)?;
    <[u8; 8]>::try_from(&key[at..]).ok().map(Pos::from_be_bytes)
}

/// The prefix of every key of `tag` in the `tags` keyspace: its length
/// (tags are at most 256 bytes; the length keeps one tag's keys apart from
/// a longer tag's that starts the same) and its bytes.
pub(super) fn tag_prefix(tag: &str) -> Vec<u8> {
    let len = u16::try_from(tag.len()).unwrap_or(u16::MAX);
    let mut key = Vec::with_capacity(2 + tag.len() + 8);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(tag.as_bytes());
    key
}

/// The key of `tag` at `position` in the `tags` keyspace.
pub(super) fn tag(prefix: &[u8], position: Pos) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&position.to_be_bytes());
    key
}

/// The key of the type with id `type_id` at `position` in the `types`
/// keyspace.
pub(super) fn type_at(type_id: u32, position: Pos) -> [u8; 12] {
    let mut key = [0; 12];
    key[..4].copy_from_slice(&type_id.to_be_bytes());
    key[4..].copy_from_slice(&position.to_be_bytes());
    key
}

/// The key under which the id of the event type `name` is kept in the
/// `meta` keyspace.
pub(super) fn type_name(name: &str) -> Vec<u8> {
    let mut key = b"type:".to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

/// The prefix of every key of [`type_name`].
pub(super) const TYPE_NAMES: &[u8] = b"type:";

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
