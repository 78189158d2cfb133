//! The parameters of the store's server functions, built from events,
//! conditions and queries: everything travels as bound arrays.

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::batch::{MAX_BATCH_KEYS, Pending};
use super::locks::LockKeys;
use crate::{AppendCondition, EventRecord, Metadata, Position, Query};

/// The parameters of one `dcb_append` call.
pub(super) struct AppendParams<'a> {
    pub(super) types: Vec<&'a str>,
    pub(super) data: Vec<&'a [u8]>,
    pub(super) tags: Vec<&'a str>,
    pub(super) tag_counts: Vec<i32>,
    pub(super) ids: Option<Vec<Option<crate::Uuid>>>,
    /// Each event's metadata; `None` (a NULL array) when no event has any.
    pub(super) metadata: Option<Vec<Option<MetadataParam>>>,
    pub(super) locks: Vec<i64>,
    pub(super) lock_modes: Vec<bool>,
    pub(super) alloc_key: i64,
    pub(super) has_condition: bool,
    pub(super) shape: QueryShape<'a>,
    pub(super) after: Option<i64>,
    /// Each condition item's own position (0 for none); `None` (a NULL
    /// array) when every item counts after `after`.
    pub(super) item_after: Option<Vec<i64>>,
}

impl<'a> AppendParams<'a> {
    pub(super) fn new(
        keys: &LockKeys,
        events: &'a [EventRecord],
        condition: Option<&'a AppendCondition>,
    ) -> AppendParams<'a> {
        AppendParams::with_locks(keys, events, condition, keys.for_append(events, condition))
    }

    /// The parameters with the locks already computed.
    pub(super) fn with_locks(
        keys: &LockKeys,
        events: &'a [EventRecord],
        condition: Option<&'a AppendCondition>,
        (locks, lock_modes): (Vec<i64>, Vec<bool>),
    ) -> AppendParams<'a> {
        let n = events.len();
        let mut types = Vec::with_capacity(n);
        let mut data = Vec::with_capacity(n);
        let mut tags = Vec::new();
        let mut tag_counts = Vec::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        for event in events {
            types.push(event.event_type().as_str());
            data.push(event.data().as_ref());
            tags.extend(event.tags().iter().map(crate::Tag::as_str));
            tag_counts.push(count(event.tags().len()));
            ids.push(event.id());
        }
        AppendParams {
            types,
            data,
            tags,
            tag_counts,
            // No ids: a NULL array, which the function skips at once.
            ids: ids.iter().any(Option::is_some).then_some(ids),
            metadata: metadata_param(events),
            locks,
            lock_modes,
            alloc_key: keys.alloc,
            has_condition: condition.is_some(),
            shape: condition.map_or_else(QueryShape::empty, |c| {
                QueryShape::of(&c.fail_if_events_match)
            }),
            after: condition.and_then(|c| c.after).map(position_param),
            item_after: condition.and_then(item_after_param),
        }
    }

    pub(super) fn as_sql(&self) -> [&(dyn ToSql + Sync); 16] {
        [
            &self.types,
            &self.data,
            &self.tags,
            &self.tag_counts,
            &self.ids,
            &self.locks,
            &self.lock_modes,
            &self.alloc_key,
            &self.has_condition,
            &self.shape.tags,
            &self.shape.tag_counts,
            &self.shape.types,
            &self.shape.type_counts,
            &self.after,
            &self.metadata,
            &self.item_after,
        ]
    }
}

/// The `p_item_after` parameter of `dcb_append`: per item of the
/// condition its own position (0 for none), or `None` (NULL) when the
/// items have none of their own.
fn item_after_param(condition: &AppendCondition) -> Option<Vec<i64>> {
    condition
        .has_item_positions()
        .then(|| item_positions(condition).collect())
}

/// Per item of `condition` the position it counts the events after (0 for
/// none), as the append functions take them.
fn item_positions(condition: &AppendCondition) -> impl Iterator<Item = i64> + '_ {
    (0..condition.fail_if_events_match.items().len())
        .map(|i| condition.item_after(i).map_or(0, position_param))
}

/// The parameters of one `dcb_append_batch` call (see its comment in
/// `sql/functions/dcb_append_batch.sql`).
pub(super) struct BatchParams<'a> {
    types: Vec<&'a str>,
    data: Vec<&'a [u8]>,
    tags: Vec<&'a str>,
    tag_counts: Vec<i32>,
    locks: Vec<i64>,
    lock_modes: Vec<bool>,
    cond_items: Vec<i32>,
    cond_tag_counts: Vec<i32>,
    cond_type_counts: Vec<i32>,
    cond_ntags: Vec<i32>,
    cond_tags: Vec<&'a str>,
    cond_ntypes: Vec<i32>,
    cond_types: Vec<&'a str>,
    after: Vec<i64>,
    metadata: Option<Vec<Option<MetadataParam>>>,
    /// Per condition item the position it counts after; `None` (a NULL
    /// array) when no condition of the batch has items with positions of
    /// their own.
    item_after: Option<Vec<i64>>,
}

impl<'a> BatchParams<'a> {
    pub(super) fn new(keys: &LockKeys, batch: &'a [Pending]) -> BatchParams<'a> {
        let n = batch.len();
        let (locks, lock_modes) = keys.for_batch(batch.iter().map(|p| &p.boundary), MAX_BATCH_KEYS);
        let mut params = BatchParams {
            types: Vec::with_capacity(n),
            data: Vec::with_capacity(n),
            tags: Vec::new(),
            tag_counts: Vec::with_capacity(n),
            locks,
            lock_modes,
            cond_items: Vec::with_capacity(n),
            cond_tag_counts: Vec::new(),
            cond_type_counts: Vec::new(),
            cond_ntags: Vec::with_capacity(n),
            cond_tags: Vec::new(),
            cond_ntypes: Vec::with_capacity(n),
            cond_types: Vec::new(),
            after: Vec::with_capacity(n),
            metadata: metadata_param(batch.iter().map(|pending| &pending.event)),
            item_after: batch
                .iter()
                .any(|pending| {
                    pending
                        .condition
                        .as_ref()
                        .is_some_and(AppendCondition::has_item_positions)
                })
                .then(Vec::new),
        };
        for pending in batch {
            let event = &pending.event;
            params.types.push(event.event_type().as_str());
            params.data.push(event.data().as_ref());
            params
                .tags
                .extend(event.tags().iter().map(crate::Tag::as_str));
            params.tag_counts.push(count(event.tags().len()));
            match &pending.condition {
                None => {
                    params.cond_items.push(-1);
                    params.cond_ntags.push(0);
                    params.cond_ntypes.push(0);
                    params.after.push(0);
                }
                Some(condition) => {
                    let shape = QueryShape::of(&condition.fail_if_events_match);
                    params.cond_items.push(count(shape.tag_counts.len()));
                    params.cond_ntags.push(count(shape.tags.len()));
                    params.cond_ntypes.push(count(shape.types.len()));
                    params.cond_tag_counts.extend(shape.tag_counts);
                    params.cond_type_counts.extend(shape.type_counts);
                    params.cond_tags.extend(shape.tags);
                    params.cond_types.extend(shape.types);
                    params.after.push(condition.after.map_or(0, position_param));
                    if let Some(item_after) = &mut params.item_after {
                        item_after.extend(item_positions(condition));
                    }
                }
            }
        }
        params
    }

    pub(super) fn as_sql(&self) -> [&(dyn ToSql + Sync); 16] {
        [
            &self.types,
            &self.data,
            &self.tags,
            &self.tag_counts,
            &self.locks,
            &self.lock_modes,
            &self.cond_items,
            &self.cond_tag_counts,
            &self.cond_type_counts,
            &self.cond_ntags,
            &self.cond_tags,
            &self.cond_ntypes,
            &self.cond_types,
            &self.after,
            &self.metadata,
            &self.item_after,
        ]
    }
}

/// The `p_metadata` parameter of the append functions: per event its
/// metadata, or NULL for none; a NULL array when no event has any (the
/// common case, which costs nothing more to send).
fn metadata_param<'a>(
    events: impl IntoIterator<Item = &'a EventRecord> + Clone,
) -> Option<Vec<Option<MetadataParam>>> {
    if events
        .clone()
        .into_iter()
        .all(|event| event.metadata().is_empty())
    {
        return None;
    }
    Some(
        events
            .into_iter()
            .map(|event| MetadataParam::of(event.metadata()))
            .collect(),
    )
}

/// An event's metadata as a `jsonb` parameter: a JSON object of strings,
/// sent as `jsonb`'s binary format is (a version byte, 1, then the text).
#[derive(Debug)]
pub(super) struct MetadataParam(String);

impl MetadataParam {
    /// The metadata, or `None` (NULL) when it is empty.
    fn of(metadata: &Metadata) -> Option<MetadataParam> {
        if metadata.is_empty() {
            return None;
        }
        // A map of strings always serialises.
        serde_json::to_string(metadata).ok().map(MetadataParam)
    }
}

impl ToSql for MetadataParam {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.put_u8(JSONB_VERSION);
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

/// The version byte of `jsonb`'s binary format.
pub(super) const JSONB_VERSION: u8 = 1;

pub(super) fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

pub(super) fn position_param(position: Position) -> i64 {
    i64::try_from(position.get()).unwrap_or(i64::MAX)
}

pub(super) fn position_from(value: i64) -> Option<Position> {
    u64::try_from(value).ok().and_then(Position::new)
}

/// A query as the server functions take it: all items' tags and types,
/// flattened, and per item how many of each.
pub(super) struct QueryShape<'a> {
    pub(super) tags: Vec<&'a str>,
    pub(super) tag_counts: Vec<i32>,
    pub(super) types: Vec<&'a str>,
    pub(super) type_counts: Vec<i32>,
}

impl<'a> QueryShape<'a> {
    pub(super) fn empty() -> QueryShape<'a> {
        QueryShape {
            tags: Vec::new(),
            tag_counts: Vec::new(),
            types: Vec::new(),
            type_counts: Vec::new(),
        }
    }

    pub(super) fn of(query: &'a Query) -> QueryShape<'a> {
        let items = query.items();
        let mut shape = QueryShape {
            tags: Vec::new(),
            tag_counts: Vec::with_capacity(items.len()),
            types: Vec::new(),
            type_counts: Vec::with_capacity(items.len()),
        };
        for item in items {
            shape
                .tags
                .extend(item.required_tags().iter().map(crate::Tag::as_str));
            shape.tag_counts.push(count(item.required_tags().len()));
            shape
                .types
                .extend(item.event_types().iter().map(crate::EventType::as_str));
            shape.type_counts.push(count(item.event_types().len()));
        }
        shape
    }
}

/// A decision's read as `dcb_decision_read_by_first_tags` takes it: each
/// item by its first tag, and its types as `tag || chr(31) || type` pairs
/// (names hold no control characters, so the pairs are unambiguous).
#[derive(Debug)]
pub(super) struct FirstTags<'a> {
    /// The items' first tags, each once.
    pub(super) tags: Vec<&'a str>,
    /// The (first tag, type) pairs of the items with types.
    pub(super) pairs: Vec<String>,
    /// The first tags of the items without types.
    pub(super) any: Vec<&'a str>,
    /// Whether every item has one tag, so that the server's rows are
    /// exactly the matching events.
    pub(super) exact: bool,
}

/// Joins a tag and a type as `dcb_decision_read_by_first_tags` compares them.
pub(super) const PAIR_SEPARATOR: char = '\u{1f}';

impl<'a> FirstTags<'a> {
    /// `None` for a query with no items, or with an item without tags
    /// (read by type instead).
    pub(super) fn of(query: &'a Query) -> Option<FirstTags<'a>> {
        let items = query.items();
        if items.is_empty() {
            return None;
        }
        let mut first_tags = FirstTags {
            tags: Vec::with_capacity(items.len()),
            pairs: Vec::new(),
            any: Vec::new(),
            exact: true,
        };
        for item in items {
            let tags = item.required_tags();
            let first = tags.iter().next()?.as_str();
            first_tags.exact &= tags.len() == 1;
            if !first_tags.tags.contains(&first) {
                first_tags.tags.push(first);
            }
            if item.event_types().is_empty() {
                first_tags.any.push(first);
            } else {
                first_tags.pairs.extend(
                    item.event_types()
                        .iter()
                        .map(|t| format!("{first}{PAIR_SEPARATOR}{}", t.as_str())),
                );
            }
        }
        Some(first_tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventType, QueryItem, Tag};

    fn tag(name: &str) -> Tag {
        Tag::new(name).unwrap()
    }

    #[test]
    fn a_decision_read_takes_each_item_by_its_first_tag() {
        let joined = EventType::from_static("Joined");
        let left = EventType::from_static("Left");
        let query = Query::from(
            QueryItem::new()
                .types([joined.clone(), left.clone()])
                .tags([tag("course:1")]),
        )
        .or(QueryItem::new().tags([tag("student:7")]))
        .or(QueryItem::new().types([left]).tags([tag("course:1")]));
        let read = FirstTags::of(&query).unwrap();
        assert_eq!(read.tags, ["course:1", "student:7"]);
        assert_eq!(
            read.pairs,
            [
                "course:1\u{1f}Joined",
                "course:1\u{1f}Left",
                "course:1\u{1f}Left"
            ]
        );
        assert_eq!(read.any, ["student:7"]);
        assert!(read.exact);

        let both = Query::from(
            QueryItem::new()
                .types([joined])
                .tags([tag("course:1"), tag("student:7")]),
        );
        let read = FirstTags::of(&both).unwrap();
        assert_eq!(read.tags.len(), 1);
        assert!(!read.exact, "an item of two tags is matched by one");

        let untagged = Query::from(QueryItem::new().types([EventType::from_static("Opened")]));
        assert!(FirstTags::of(&untagged).is_none());
        assert!(FirstTags::of(&Query::all()).is_none());
    }
}
