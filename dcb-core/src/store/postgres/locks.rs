//! The advisory-lock keys of a conditional append, computed on the client.
//!
//! A key is a stable 64-bit hash (FNV-1a, then the `SplitMix64` finaliser) of
//! the schema name and a tag, a type or a marker, so that every client of a
//! schema — whatever its version or platform — computes the same keys, and
//! stores in different schemas of one database rarely share one. Two texts
//! that collide only make appends wait for each other; no conflict is lost
//! (see "The PostgreSQL store" in `docs/design.md`).

use crate::{AppendCondition, EventRecord, Query};

/// An append that would need more boundary keys than this takes only the
/// global key, exclusively: the server's lock table (sized by
/// `max_locks_per_transaction`) must not be exhausted by one append.
pub(super) const MAX_KEYS: usize = 32;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

fn finish(mut z: u64) -> i64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    i64::from_ne_bytes(z.to_ne_bytes())
}

/// The keys of one schema.
#[derive(Clone, Debug)]
pub(super) struct LockKeys {
    seed: u64,
    /// The global key: every append holds it (shared unless it needs the
    /// global boundary) from its start to its commit; `head()` and a read
    /// of everything take it exclusively (the read barrier), any other
    /// read shared ([`LockKeys::for_read`]).
    pub(super) global: i64,
    /// Guarded the allocation of consecutive positions until migration 10
    /// (the server's clock section does now): still passed as
    /// `dcb_append`'s `p_alloc_key`, which the function no longer uses,
    /// and never taken.
    pub(super) alloc: i64,
}

impl LockKeys {
    pub(super) fn new(schema: &str) -> LockKeys {
        let seed = fnv(fnv(FNV_OFFSET, b"dcb:"), schema.as_bytes());
        LockKeys {
            seed,
            global: finish(fnv(seed, b"*")),
            alloc: finish(fnv(seed, b"#")),
        }
    }

    fn tag(&self, tag: &str) -> i64 {
        finish(fnv(fnv(self.seed, b"t"), tag.as_bytes()))
    }

    fn event_type(&self, event_type: &str) -> i64 {
        finish(fnv(fnv(self.seed, b"y"), event_type.as_bytes()))
    }

    /// The boundary keys one append needs, each once in its strongest mode:
    /// exclusive for one key per condition item (its first tag; without
    /// tags each of its types; the global key for an empty item or query),
    /// shared for every tag and type of the events. An append that would
    /// need more than [`MAX_KEYS`] keys needs only the global key,
    /// exclusively.
    pub(super) fn boundary(
        &self,
        events: &[EventRecord],
        condition: Option<&AppendCondition>,
    ) -> Boundary {
        let mut global_excl = false;
        let mut keys: Vec<(i64, bool)> = Vec::new();
        for event in events {
            keys.push((self.event_type(event.event_type().as_str()), false));
            keys.extend(event.tags().iter().map(|t| (self.tag(t.as_str()), false)));
        }
        if let Some(condition) = condition {
            global_excl = !self.query_keys(&condition.fail_if_events_match, &mut keys);
        }
        let mut boundary = Boundary { keys, global_excl };
        boundary.settle(self.global);
        // With the global key, at most MAX_KEYS locks.
        boundary.cap(MAX_KEYS - 1);
        boundary
    }

    /// The locks an append takes, in the order to take them, and whether
    /// each is exclusive: the global key first, then the boundary keys
    /// ([`LockKeys::boundary`]) in ascending order. (Positions and times
    /// are taken under a lock of the server's own, briefly: see the clock
    /// section in `sql/functions/dcb_append.sql`.)
    pub(super) fn for_append(
        &self,
        events: &[EventRecord],
        condition: Option<&AppendCondition>,
    ) -> (Vec<i64>, Vec<bool>) {
        self.locks_of(&self.boundary(events, condition))
    }

    /// Pushes the exclusive key of each item of `query` onto `keys`: the
    /// key of its first tag; for an item without tags, the key of each of
    /// its types. Every append of an event that matches the item holds that
    /// key shared (it takes every tag and type of its events). `false`, and
    /// nothing pushed for it, when an item, or the query, is empty: only the
    /// global key covers those.
    fn query_keys(&self, query: &Query, keys: &mut Vec<(i64, bool)>) -> bool {
        let items = query.items();
        let mut covered = !items.is_empty();
        for item in items {
            if let Some(first) = item.required_tags().iter().next() {
                keys.push((self.tag(first.as_str()), true));
            } else if item.event_types().is_empty() {
                covered = false;
            } else {
                keys.extend(
                    item.event_types()
                        .iter()
                        .map(|y| (self.event_type(y.as_str()), true)),
                );
            }
        }
        covered
    }

    /// The locks a read of `query` takes while it reads its head, in the
    /// order to take them, and whether each is exclusive: the global key
    /// shared, then each item's key exclusively, ascending — the keys an
    /// append's condition on `query` takes ([`LockKeys::boundary`]). Every
    /// append of an event the read matches holds one of them shared until
    /// it commits, so once they are granted no such append is in flight;
    /// appends on other boundaries go on. `None` when the read must take
    /// the read barrier instead (which waits for every append): a query of
    /// everything, an empty item, or more than [`MAX_KEYS`] keys.
    pub(super) fn for_read(&self, query: &Query) -> Option<(Vec<i64>, Vec<bool>)> {
        let mut keys = Vec::new();
        if !self.query_keys(query, &mut keys) {
            return None;
        }
        let mut boundary = Boundary {
            keys,
            global_excl: false,
        };
        boundary.settle(self.global);
        boundary.cap(MAX_KEYS - 1);
        (!boundary.global_excl).then(|| self.locks_of(&boundary))
    }

    /// The locks of a batch of single-event appends, in the order to take
    /// them: every key any of them takes alone, each once in its strongest
    /// mode, in the order of [`LockKeys::for_append`]. A batch with more
    /// than `limit` boundary keys takes only the global key, exclusively.
    pub(super) fn for_batch<'a>(
        &self,
        boundaries: impl IntoIterator<Item = &'a Boundary>,
        limit: usize,
    ) -> (Vec<i64>, Vec<bool>) {
        let mut union = Boundary {
            keys: Vec::new(),
            global_excl: false,
        };
        for boundary in boundaries {
            union.keys.extend_from_slice(&boundary.keys);
            union.global_excl |= boundary.global_excl;
        }
        union.settle(self.global);
        union.cap(limit);
        self.locks_of(&union)
    }

    /// The locks of an append with `boundary`, in the order to take them
    /// (see [`LockKeys::for_append`]).
    pub(super) fn locks_of(&self, boundary: &Boundary) -> (Vec<i64>, Vec<bool>) {
        let n = boundary.keys.len() + 1;
        let mut keys = Vec::with_capacity(n);
        let mut modes = Vec::with_capacity(n);
        keys.push(self.global);
        modes.push(boundary.global_excl);
        for &(key, excl) in &boundary.keys {
            keys.push(key);
            modes.push(excl);
        }
        (keys, modes)
    }
}

/// The boundary keys of one append ([`LockKeys::boundary`]): ascending,
/// each once in its strongest mode, without the global key.
#[derive(Clone, Debug)]
pub(super) struct Boundary {
    keys: Vec<(i64, bool)>,
    /// Whether the append needs the global key exclusively.
    global_excl: bool,
}

impl Boundary {
    /// How many boundary keys the append takes.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// With more than `most` keys, takes the global key exclusively
    /// instead: it covers every boundary.
    fn cap(&mut self, most: usize) {
        if self.keys.len() > most {
            self.keys.clear();
            self.global_excl = true;
        }
    }

    /// Sorts the keys ascending, keeps each once in its strongest mode, and
    /// folds a key equal to the global key (a collision) into it.
    fn settle(&mut self, global: i64) {
        // Ascending keys, exclusive before shared for one key; keep the first.
        self.keys
            .sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        self.keys.dedup_by_key(|k| k.0);
        if let Some(i) = self.keys.iter().position(|k| k.0 == global) {
            self.global_excl |= self.keys.remove(i).1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventType, Query, QueryItem, Tag};

    fn event(tags: &[&'static str]) -> EventRecord {
        EventRecord::new(EventType::from_static("Joined"), "{}")
            .with_tags(tags.iter().map(|t| Tag::from_static(t)).collect::<Vec<_>>())
    }

    #[test]
    fn keys_are_stable_and_per_schema() {
        let a = LockKeys::new("dcb");
        assert_eq!(a.tag("course:1"), LockKeys::new("dcb").tag("course:1"));
        assert_ne!(a.tag("course:1"), LockKeys::new("other").tag("course:1"));
        assert_ne!(a.tag("x"), a.event_type("x"));
        // Fixed values: the keys must never change between versions, or
        // clients of two versions would not exclude each other.
        assert_eq!(finish(fnv(FNV_OFFSET, b"")), -780_787_492_076_525_413);
        assert_eq!(a.tag("course:1"), 1_204_920_766_976_339_906);
    }

    #[test]
    fn global_first_then_sorted_boundaries() {
        let keys = LockKeys::new("dcb");
        let condition = AppendCondition::new(Query::from(
            QueryItem::new()
                .types([EventType::from_static("Joined")])
                .tags([Tag::from_static("course:1")]),
        ));
        let (locks, modes) =
            keys.for_append(&[event(&["course:1", "student:1"])], Some(&condition));
        assert_eq!(locks[0], keys.global);
        assert!(!modes[0]);
        assert!(
            !locks.contains(&keys.alloc),
            "the allocation key is no longer taken"
        );
        let middle = &locks[1..];
        assert_eq!(middle.len(), 3, "course, student, type");
        assert!(middle.windows(2).all(|w| w[0] < w[1]));
        let course = middle
            .iter()
            .position(|&k| k == keys.tag("course:1"))
            .unwrap();
        assert!(modes[1 + course], "the condition's tag is exclusive");
        assert_eq!(modes.iter().filter(|&&m| m).count(), 1);
    }

    #[test]
    fn empty_queries_and_large_appends_take_the_global_key_exclusively() {
        let keys = LockKeys::new("dcb");
        let (locks, modes) = keys.for_append(
            &[event(&[]), event(&[])],
            Some(&AppendCondition::new(Query::all())),
        );
        assert_eq!((locks[0], modes[0]), (keys.global, true));
        assert_eq!(locks.len(), 2, "the global key and the type");
        let many: Vec<EventRecord> = (0..40)
            .map(|i| event(&[]).with_tags([Tag::new(format!("thing:{i}")).unwrap()]))
            .collect();
        let (locks, modes) = keys.for_append(&many, None);
        assert_eq!((locks, modes), (vec![keys.global], vec![true]));
    }

    fn tagged(tags: &[&'static str]) -> QueryItem {
        QueryItem::new().tags(tags.iter().map(|t| Tag::from_static(t)))
    }

    #[test]
    fn a_read_locks_the_keys_an_append_of_its_events_takes_shared() {
        let keys = LockKeys::new("dcb");
        let query = Query::from(tagged(&["student:1"]))
            .or(tagged(&["course:1", "student:1"]))
            .or(tagged(&["course:1"]));
        let (locks, modes) = keys.for_read(&query).expect("no barrier");
        assert_eq!((locks[0], modes[0]), (keys.global, false));
        let middle = &locks[1..];
        assert!(
            middle.windows(2).all(|w| w[0] < w[1]),
            "ascending, each once"
        );
        assert_eq!(middle.len(), 2, "course and student");
        assert!(modes[1..].iter().all(|&m| m), "exclusive");
        // An append of a course's event takes the course's key shared: the
        // same key, in a mode that conflicts with the read's.
        let (append, append_modes) = keys.for_append(&[event(&["course:1"])], None);
        let course = keys.tag("course:1");
        assert!(middle.contains(&course));
        let i = append.iter().position(|&k| k == course).unwrap();
        assert!(!append_modes[i]);

        // An item without tags: the key of each of its types.
        let joined = EventType::from_static("Joined");
        let by_type = Query::from(QueryItem::new().types([joined.clone()]));
        let (locks, modes) = keys.for_read(&by_type).expect("no barrier");
        assert_eq!(locks, vec![keys.global, keys.event_type("Joined")]);
        assert_eq!(modes, vec![false, true]);

        // Everything, an empty item, or too many keys for the lock table:
        // the read barrier.
        assert_eq!(keys.for_read(&Query::all()), None);
        assert_eq!(keys.for_read(&by_type.or(QueryItem::new())), None);
        let many = (1..40).fold(Query::from(QueryItem::new().types([joined])), |query, i| {
            query.or(QueryItem::new().tags([Tag::new(format!("thing:{i}")).unwrap()]))
        });
        assert_eq!(keys.for_read(&many), None);
    }

    #[test]
    fn a_batch_takes_every_key_of_its_appends_in_the_strongest_mode() {
        let keys = LockKeys::new("dcb");
        let on_course = |course: &'static str| {
            AppendCondition::new(Query::from(
                QueryItem::new().tags([Tag::from_static(course)]),
            ))
        };
        // One append conditions on course:1, another only writes to it.
        let first = keys.boundary(&[event(&["course:1"])], Some(&on_course("course:1")));
        let second = keys.boundary(&[event(&["course:1", "student:2"])], None);
        let (locks, modes) = keys.for_batch([&first, &second], 64);
        assert_eq!((locks[0], modes[0]), (keys.global, false));
        let middle = &locks[1..];
        assert!(
            middle.windows(2).all(|w| w[0] < w[1]),
            "ascending, each once"
        );
        assert_eq!(middle.len(), 3, "course, student, type");
        let course = middle
            .iter()
            .position(|&k| k == keys.tag("course:1"))
            .unwrap();
        assert!(
            modes[1 + course],
            "exclusive, as the conditioning append takes it"
        );
        assert_eq!(modes.iter().filter(|&&m| m).count(), 1);

        // An append that needs the global boundary makes the batch take it.
        let everything = keys.boundary(&[event(&[])], Some(&AppendCondition::new(Query::all())));
        let (locks, modes) = keys.for_batch([&first, &everything], 64);
        assert_eq!((locks[0], modes[0]), (keys.global, true));
        assert_eq!(locks.len(), 3, "the global key, the course and the type");

        // More boundary keys than the limit: the global key alone.
        let (locks, modes) = keys.for_batch([&first, &second], 2);
        assert_eq!((locks, modes), (vec![keys.global], vec![true]));
    }
}
