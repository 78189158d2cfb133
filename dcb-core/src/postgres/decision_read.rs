//! The statement of a decision's read (a read without a limit whose items
//! all have tags), written out for the query's shape.
//!
//! The shape is the number of items and, per item, how many tags and types
//! it has; the tags and types themselves stay bound parameters. Written
//! out, the statement is one range scan of the tag index per item (its
//! first tag, its types checked in the index, its other tags looked up in
//! the index), the positions deduplicated, then one primary-key lookup per
//! position. The server prepares and plans it once per shape and
//! connection. `OFFSET 0` keeps the lookups from being flattened into a
//! join: the plan is cached, and a join planned while the table was small
//! (a hash join over a sequential scan of `events`) would scan the whole
//! table on every read once it has grown. Larger
//! shapes than [`MAX_ITEMS`] items or [`MAX_ITEM_TAGS`] tags in an item go
//! through the one statement that takes any shape (`TAGGED_READ_SQL`), so
//! a program that builds ever new shapes cannot fill a connection with
//! prepared statements.

use std::fmt::Write as _;

use tokio_postgres::types::Type;

use super::QueryShape;

/// The most items a written-out statement has.
pub(super) const MAX_ITEMS: usize = 8;

/// The most tags an item of a written-out statement has.
pub(super) const MAX_ITEM_TAGS: usize = 4;

/// The parameter types of [`statement`]: $1 the barrier key, $2 all items'
/// tags, item after item, $3 all items' types, item after item, $4 after
/// (0 for none).
pub(super) const PARAM_TYPES: &[Type] =
    &[Type::INT8, Type::TEXT_ARRAY, Type::TEXT_ARRAY, Type::INT8];

/// The statement reading `shape`'s events, after the read barrier, with
/// `__SCHEMA__` for the schema; `None` if the shape is too large to be
/// written out.
///
/// Its first row is the head (`pos` = the snapshot's last position or
/// NULL, the rest NULL), computed, and the barrier released, before the
/// events are looked up; the events follow in position order (descending
/// when `backwards`).
pub(super) fn statement(shape: &QueryShape<'_>, backwards: bool) -> Option<String> {
    let items = shape.tag_counts.len();
    if items == 0 || items > MAX_ITEMS {
        return None;
    }
    let mut matches = String::new();
    let (mut tag_offset, mut type_offset) = (0, 0);
    for (&tags, &types) in shape.tag_counts.iter().zip(&shape.type_counts) {
        let (tags, types) = (usize::try_from(tags).ok()?, usize::try_from(types).ok()?);
        if tags == 0 || tags > MAX_ITEM_TAGS {
            return None;
        }
        if !matches.is_empty() {
            matches.push_str("\n        UNION\n");
        }
        item_matches(&mut matches, tag_offset, tags, type_offset, types);
        tag_offset += tags;
        type_offset += types;
    }
    let direction = if backwards { "DESC" } else { "ASC" };
    Some(format!(
        "\
WITH b AS MATERIALIZED (
    SELECT (SELECT max(x.position) FROM __SCHEMA__.events x) AS head, pg_advisory_unlock($1) AS released
)
SELECT r.pos, r.event_type, r.data, r.tags, r.id FROM (
    SELECT 0 AS part, b.head AS pos, NULL::text AS event_type, NULL::bytea AS data,
           NULL::text[] AS tags, NULL::uuid AS id
    FROM b
    UNION ALL
    SELECT 1, e.position, e.event_type, e.data, e.tags, e.id
    FROM (
{matches}
    ) m
    CROSS JOIN LATERAL (
        SELECT x.position, x.event_type, x.data, x.tags, x.id
        FROM __SCHEMA__.events x WHERE x.position = m.position OFFSET 0
    ) e
) r
ORDER BY r.part, r.pos {direction}"
    ))
}

/// Appends the positions matching one item, whose tags are the `tags`
/// elements of `$2` after `tag_offset` and whose types are the `types`
/// elements of `$3` after `type_offset` (none: any type).
fn item_matches(
    sql: &mut String,
    tag_offset: usize,
    tags: usize,
    type_offset: usize,
    types: usize,
) {
    // Writing to a String cannot fail.
    let _ = write!(
        sql,
        "        SELECT t.position FROM __SCHEMA__.event_tags t\n        \
         WHERE t.tag = $2[{}] AND t.position > $4",
        tag_offset + 1
    );
    if types > 0 {
        let _ = write!(
            sql,
            " AND t.event_type = ANY ($3[{}:{}])",
            type_offset + 1,
            type_offset + types
        );
    }
    for other in 2..=tags {
        let _ = write!(
            sql,
            "\n            AND EXISTS (SELECT 1 FROM __SCHEMA__.event_tags t{other} \
             WHERE t{other}.tag = $2[{}] AND t{other}.position = t.position)",
            tag_offset + other
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventType, Query, QueryItem, Tag};

    fn shape_of(query: &Query) -> QueryShape<'_> {
        QueryShape::of(query)
    }

    #[test]
    fn each_item_scans_its_first_tag_and_looks_up_the_others() {
        let query = Query::from(
            QueryItem::new()
                .types([EventType::from_static("A"), EventType::from_static("B")])
                .tags([Tag::new("course:1").unwrap()]),
        )
        .or(QueryItem::new().tags([
            Tag::new("student:1").unwrap(),
            Tag::new("course:2").unwrap(),
        ]));
        let sql = statement(&shape_of(&query), false).expect("a small shape is written out");
        assert!(
            sql.contains(
                "WHERE t.tag = $2[1] AND t.position > $4 AND t.event_type = ANY ($3[1:2])"
            )
        );
        assert!(sql.contains("WHERE t.tag = $2[2] AND t.position > $4\n"));
        assert!(sql.contains("WHERE t2.tag = $2[3] AND t2.position = t.position"));
        assert_eq!(sql.matches("UNION\n").count(), 1);
        assert!(sql.ends_with("ORDER BY r.part, r.pos ASC"));
        let backwards = statement(&shape_of(&query), true).expect("written out");
        assert!(backwards.ends_with("ORDER BY r.part, r.pos DESC"));
    }

    #[test]
    fn large_or_untagged_shapes_are_not_written_out() {
        let tag = |n: usize| Tag::new(format!("t:{n}")).unwrap();
        let items = |n: usize| {
            (1..n).fold(Query::from(QueryItem::new().tags([tag(0)])), |query, i| {
                query.or(QueryItem::new().tags([tag(i)]))
            })
        };
        assert!(statement(&shape_of(&items(MAX_ITEMS)), false).is_some());
        assert!(statement(&shape_of(&items(MAX_ITEMS + 1)), false).is_none());
        let many_tags = |n: usize| Query::from(QueryItem::new().tags((0..n).map(tag)));
        assert!(statement(&shape_of(&many_tags(MAX_ITEM_TAGS)), false).is_some());
        assert!(statement(&shape_of(&many_tags(MAX_ITEM_TAGS + 1)), false).is_none());
        let untagged = Query::from(QueryItem::new().types([EventType::from_static("A")]));
        assert!(statement(&shape_of(&untagged), false).is_none());
        assert!(statement(&shape_of(&Query::all()), false).is_none());
    }
}
