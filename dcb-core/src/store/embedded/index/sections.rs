//! The index's sections, each a fjall keyspace of its own: an LSM tree
//! whose tables hold only that section's keys.
//!
//! Why not one keyspace: every write to the index is a run with keys of
//! every section, so in one keyspace each run's tables spanned the whole
//! key space, overlapped every table before them, and compaction merged
//! (read, decoded, rewrote) all of them on each pass. Apart, the
//! sections whose keys only grow — `events`, by block of positions — take a run's
//! tables by a move, not a merge, and the others merge only among
//! themselves (docs/decisions/0028-index-sections-apart.md).
//!
//! A key's first byte names its section (see [`keys`](super::keys)), so a
//! key is routed to its keyspace as it is. A run is ingested section by
//! section, `meta` last: `meta` holds the index's reach, so a crash
//! between two ingestions leaves entries past the reach, which the replay
//! of the log after the reach writes again, and a reader never looks past
//! the reach.

use std::ops::RangeInclusive;
use std::sync::Arc;

use fjall::compaction::Leveled;
use fjall::config::{CompressionPolicy, FilterPolicy};
use fjall::{CompressionType, Database, Keyspace, KeyspaceCreateOptions};

use super::keys::{EVENTS, IDS, META, POSTINGS, TAGS, TYPES};

/// The sections' keyspaces, in the order of [`INGESTION_ORDER`].
pub(super) struct Sections {
    keyspaces: [Keyspace; COUNT],
}

/// The size of the tables of `types` (see [`Sections::open`]).
const TYPES_TABLE_SIZE: u64 = 8 << 20;

/// The number of sections.
pub(super) const COUNT: usize = 6;

/// The sections in the order a run is ingested: `meta`, which records the
/// reach, last.
const INGESTION_ORDER: [u8; COUNT] = [EVENTS, TAGS, POSTINGS, TYPES, IDS, META];

/// Where the section of `key` is in the order of ingestion (`meta` for a
/// key of no section).
pub(super) fn index_of(key: &[u8]) -> usize {
    let section = key.first().copied().unwrap_or(META);
    INGESTION_ORDER
        .iter()
        .position(|&s| s == section)
        .unwrap_or(COUNT - 1)
}

impl Sections {
    /// Opens (or creates) the sections' keyspaces in `db`.
    pub(super) fn open(db: &Database) -> Result<Sections, fjall::Error> {
        // The sections whose runs are merged (all but `events`) keep
        // fjall's compression: none in the first two levels, lz4 from the
        // third on. Their keys are spread over the key space, so each merge
        // of the first level rewrites the second whole: compressing those
        // two levels cost the merges more than it saved (a 30M fill 1.30×
        // as fast without, 6 % larger; docs/decisions/0031).
        let open = |name: &str| db.keyspace(name, KeyspaceCreateOptions::default);
        // Bloom filters answer point lookups of keys a table lacks. `types`
        // is only walked in ranges, which no filter serves; `events` too,
        // since a position is looked up as the last key of its block at or
        // before it (see `blocks`): filters there would cost their writing
        // and room in the block cache for nothing.
        // And `events`' tables are moved down, never rewritten, so they are
        // compressed on every level.
        let events = db.keyspace("events", || {
            KeyspaceCreateOptions::default()
                .data_block_compression_policy(CompressionPolicy::all(CompressionType::Lz4))
                .filter_policy(FilterPolicy::disabled())
        })?;
        // Every run adds to every type's keys, so its tables overlap most
        // of `types`' next level, and a merge into it rewrites that level
        // whole: a small one (tables of 8 MiB, fjall's default 64, so 32
        // MiB for its first level) keeps that cheap while `types` grows.
        let types = db.keyspace("types", || {
            KeyspaceCreateOptions::default()
                .filter_policy(FilterPolicy::disabled())
                .compaction_strategy(Arc::new(
                    Leveled::default().with_table_target_size(TYPES_TABLE_SIZE),
                ))
        })?;
        Ok(Sections {
            keyspaces: [
                events,
                open("tags")?,
                open("postings")?,
                types,
                open("ids")?,
                open("meta")?,
            ],
        })
    }

    /// The keyspace `key` belongs in.
    fn of_key(&self, key: &[u8]) -> &Keyspace {
        &self.keyspaces[index_of(key)]
    }

    /// The value of `key`, if any.
    pub(super) fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<fjall::Slice>, fjall::Error> {
        let key = key.as_ref();
        self.of_key(key).get(key)
    }

    /// Whether `key` has a value.
    pub(super) fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool, fjall::Error> {
        let key = key.as_ref();
        self.of_key(key).contains_key(key)
    }

    /// The keys in `range`, both ends in one section.
    pub(super) fn range<K: AsRef<[u8]>>(&self, range: RangeInclusive<K>) -> fjall::Iter {
        let keyspace = self.of_key(range.start().as_ref());
        keyspace.range(range)
    }

    /// The keys that start with `prefix`, in the section its first byte
    /// names.
    pub(super) fn prefix(&self, prefix: &[u8]) -> fjall::Iter {
        self.of_key(prefix).prefix(prefix)
    }

    /// The most tables any section's first level holds.
    pub(super) fn l0_table_count(&self) -> usize {
        self.keyspaces
            .iter()
            .map(Keyspace::l0_table_count)
            .max()
            .unwrap_or(0)
    }

    /// Ingests `by_section` — each section's entries, in the order of
    /// [`index_of`], sorted by key, each key once — section by section,
    /// `meta` last (see the [module](self)).
    pub(super) fn ingest(
        &self,
        by_section: [Vec<(fjall::Slice, fjall::Slice)>; COUNT],
    ) -> Result<(), fjall::Error> {
        for (at, (keyspace, entries)) in self.keyspaces.iter().zip(by_section).enumerate() {
            if entries.is_empty() {
                continue;
            }
            if cfg!(test) && at == COUNT - 1 && cut::before_meta() {
                return Err(fjall::Error::Poisoned);
            }
            let mut ingestion = keyspace.start_ingestion()?;
            for (key, value) in entries {
                ingestion.write(key, value)?;
            }
            ingestion.finish()?;
        }
        Ok(())
    }
}

/// For tests: cuts the ingestions of this thread before `meta`, as a crash
/// or a failed write between two ingestions would. Outside tests nothing
/// sets it.
pub(super) mod cut {
    use std::cell::Cell;

    thread_local! {
        static BEFORE_META: Cell<bool> = const { Cell::new(false) };
    }

    /// Whether ingestions on this thread stop before `meta`: set by
    /// [`before_meta_while`].
    pub(super) fn before_meta() -> bool {
        BEFORE_META.get()
    }

    /// Runs `f` with ingestions on this thread cut before `meta`.
    #[cfg(test)]
    pub(in crate::store::embedded::index) fn before_meta_while<T>(f: impl FnOnce() -> T) -> T {
        BEFORE_META.set(true);
        let out = f();
        BEFORE_META.set(false);
        out
    }
}
