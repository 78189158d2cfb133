//! Finding the events that match a query through the indexes.
//!
//! Each query item is planned as one or more cursors over index posting
//! lists (positions, ascending). The scan merges the cursors of all items in
//! position order, so a read costs O(candidates) — the length of the
//! shortest list that can answer each item — not O(store size).

use crate::{Query, QueryItem};

use super::state::{Pos, State};
use crate::{EventType, Position, Tag};

/// Which posting list a cursor walks.
enum Source {
    /// Every position.
    All,
    Type(EventType),
    Tag(Tag),
}

struct Cursor {
    source: Source,
    /// The item whose full match a candidate must pass, or `None` when every
    /// position of the list matches.
    filter: Option<usize>,
    /// Forward: the index of the next entry. Backwards: the number of entries
    /// left, the next being at `index - 1`.
    index: usize,
}

/// A resumable walk over the positions matching a query within
/// `(after, last]`, where `last` is the snapshot the scan was planned in.
pub(super) struct Scan {
    cursors: Vec<Cursor>,
    after: Pos,
    last: Pos,
    backwards: bool,
}

impl Scan {
    /// Plans a scan of `query` over the events after `after` in the current
    /// state, which becomes the scan's snapshot.
    pub(super) fn new(
        state: &State,
        query: &Query,
        after: Option<Position>,
        backwards: bool,
    ) -> Scan {
        let after = after.map_or(0, Position::get);
        let snapshot = state.last();
        let mut cursors = Vec::with_capacity(query.items().len());
        if query.is_all() || query.items().iter().any(is_unrestricted) {
            cursors.push(Cursor {
                source: Source::All,
                filter: None,
                index: 0,
            });
        } else {
            for (i, item) in query.items().iter().enumerate() {
                plan_item(state, i, item, &mut cursors);
            }
        }
        let mut scan = Scan {
            cursors,
            after,
            last: snapshot,
            backwards,
        };
        for cursor in &mut scan.cursors {
            let list = posting_list(state, &cursor.source);
            cursor.index = match (&cursor.source, backwards) {
                (Source::All, false) => usize_of(after),
                (Source::All, true) => usize_of(snapshot),
                (_, false) => list.partition_point(|&p| p <= after),
                (_, true) => list.partition_point(|&p| p <= snapshot),
            };
        }
        scan
    }

    /// The last position of the snapshot the scan was planned in.
    pub(super) fn snapshot(&self) -> Pos {
        self.last
    }

    /// Calls `visit` with each matching position, in the scan's direction,
    /// until `visit` returns `false` (the scan can be resumed later) or the
    /// matches run out (returns `true`).
    pub(super) fn run(
        &mut self,
        state: &State,
        query: &Query,
        mut visit: impl FnMut(Pos) -> bool,
    ) -> bool {
        let lists: Vec<&[Pos]> = self
            .cursors
            .iter()
            .map(|c| posting_list(state, &c.source))
            .collect();
        loop {
            let mut best: Option<Pos> = None;
            for (cursor, list) in self.cursors.iter().zip(&lists) {
                if let Some(p) = self.peek(cursor, list) {
                    best = Some(match best {
                        None => p,
                        Some(b) if self.backwards => b.max(p),
                        Some(b) => b.min(p),
                    });
                }
            }
            let Some(position) = best else {
                return true;
            };
            let mut matched = false;
            for (cursor, list) in self.cursors.iter_mut().zip(&lists) {
                if peek(cursor, list, self.after, self.last, self.backwards) == Some(position) {
                    matched = matched
                        || cursor
                            .filter
                            .is_none_or(|i| query.items()[i].matches(state.event(position)));
                    if self.backwards {
                        cursor.index -= 1;
                    } else {
                        cursor.index += 1;
                    }
                }
            }
            if matched && !visit(position) {
                return false;
            }
        }
    }

    fn peek(&self, cursor: &Cursor, list: &[Pos]) -> Option<Pos> {
        peek(cursor, list, self.after, self.last, self.backwards)
    }
}

/// The cursor's next position within `(after, last]`, if any.
fn peek(cursor: &Cursor, list: &[Pos], after: Pos, snapshot: Pos, backwards: bool) -> Option<Pos> {
    let position = match (&cursor.source, backwards) {
        (Source::All, false) => cursor.index as Pos + 1,
        (Source::All, true) => cursor.index as Pos,
        (_, false) => *list.get(cursor.index)?,
        (_, true) => *list.get(cursor.index.checked_sub(1)?)?,
    };
    (position > after && position <= snapshot).then_some(position)
}

fn is_unrestricted(item: &QueryItem) -> bool {
    item.event_types().is_empty() && item.required_tags().is_empty()
}

fn posting_list<'s>(state: &'s State, source: &Source) -> &'s [Pos] {
    let list = match source {
        Source::All => None,
        Source::Type(t) => state.by_type.get(t),
        Source::Tag(t) => state.by_tag.get(t),
    };
    list.map_or(&[], Vec::as_slice)
}

fn usize_of(p: Pos) -> usize {
    usize::try_from(p).unwrap_or(usize::MAX)
}

/// Chooses the cheapest lists that can produce every match of `item`: the
/// shortest tag list, or the type lists when together they are shorter.
fn plan_item(state: &State, item_index: usize, item: &QueryItem, cursors: &mut Vec<Cursor>) {
    let types = item.event_types();
    let type_total: usize = types
        .iter()
        .map(|t| state.by_type.get(t).map_or(0, Vec::len))
        .sum();
    let shortest_tag = item
        .required_tags()
        .iter()
        .map(|t| (t, state.by_tag.get(t).map_or(0, Vec::len)))
        .min_by_key(|&(_, len)| len);
    match shortest_tag {
        // A required tag that no event carries: the item matches nothing.
        Some((_, 0)) => {}
        Some((tag, len)) if types.is_empty() || len <= type_total => {
            let exact = types.is_empty() && item.required_tags().len() == 1;
            cursors.push(Cursor {
                source: Source::Tag(tag.clone()),
                filter: (!exact).then_some(item_index),
                index: 0,
            });
        }
        _ => {
            let exact = item.required_tags().is_empty();
            for t in types {
                if state.by_type.contains_key(t) {
                    cursors.push(Cursor {
                        source: Source::Type(t.clone()),
                        filter: (!exact).then_some(item_index),
                        index: 0,
                    });
                }
            }
        }
    }
}
