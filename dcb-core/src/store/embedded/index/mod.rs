//! The embedded store's index on disk: every event handed down from the
//! in-memory tail, by position, by tag, by type and by id, in a
//! [`fjall`] database in the store's `index/` directory.
//!
//! The log stays the source of truth, and is the index's journal: each
//! write is one sorted run of tables ingested whole (see [`run`]), past
//! fjall's own journal, and records with it how far the index reaches
//! (`end`) and where the log continues after it. After a crash the index
//! holds a prefix of what was handed down, and opening replays the log
//! after that prefix — so a lost index write costs replay time, never an
//! event. With no journal of fjall's to read, opening costs milliseconds
//! at any size. An index that cannot be read is rebuilt from the log.
//!
//! The index holds where each event lies in the log ([`Location`]), not
//! the event: a read finds its positions and locations in the index and
//! takes each event's bytes from the log, checked against the CRC-32 the
//! index keeps of them (see [`segments`]).
//!
//! Sections, each a keyspace of its own (see [`sections`]; the keys in
//! [`keys`]):
//! - `events`: per block of 64 positions, the first position a run put
//!   in it → those events' positions, type ids and locations (see
//!   [`blocks`]);
//! - `postings`: tag → the tag's entries (position, type id, location),
//!   while it has at most [`posting::MAX_ENTRIES`]: a decision's read,
//!   which selects by tags of few events, finds its events' locations
//!   with one point lookup per tag (see [`posting`]);
//! - `tags`: tag, position → the event's type id and location, for the
//!   tags that spilled out of their postings: one range of keys each;
//! - `types`: per type and block of 1,024 positions, the type id and the
//!   first position a run put in the block → the type's later positions
//!   of the run in it (see [`types`]);
//! - `ids`: event id → position;
//! - `meta`: `end`, `log`, `latest`, `ids`, `blocks`, `type_blocks`, and
//!   `type:NAME` →
//!   type id.

mod blocks;
mod keys;
mod location;
mod mapped;
mod posting;
mod run;
mod sections;
mod segments;
mod types;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fjall::Database;
use parking_lot::RwLock;
use smallvec::SmallVec;
use uuid::Uuid;

use self::blocks::Layout;
pub(super) use self::location::Location;
use self::posting::{Entry, Posting};
use self::run::Run;
use self::sections::Sections;
use self::segments::Segments;
use super::log::LogPoint;
use crate::model::error::BackendError;
use crate::store::engine::{Below, Pos};
use crate::{EventRecord, Query, QueryItem, SequencedEvent, Timestamp};

/// A match of a read: its position, and its event's location as a tag's
/// entry holds it (`None`: to be looked up in `events`).
type Match = (Pos, Option<Location>);

/// The most tables fjall's first level may hold before a write waits for
/// compaction (fjall's own writes wait at 30 runs).
const MAX_L0_TABLES: usize = 20;

/// fjall's background threads. The index writes only ingested runs, so
/// its threads do nothing but compact; and in fjall 3.1 the first of
/// several threads never compacts but hands each request on to the others,
/// taking it back at once while they are busy — a core spent spinning for
/// as long as a merge runs. One thread merges as fast as that pool did
/// (docs/decisions/0024-one-compaction-thread.md).
const WORKER_THREADS: usize = 1;

/// The longest a write waits for compaction.
const MAX_COMPACTION_WAIT: Duration = Duration::from_mins(1);

/// The tables in fjall's first level at which its leveled compaction
/// merges them into the next (the strategy's default).
const L0_COMPACTION_THRESHOLD: usize = 4;

/// The key in `meta` of the index's format, and the format this build
/// writes: 8, each section a keyspace of its own, postings' entries as
/// varints, `events` and `types` by blocks of positions. Format 7 kept
/// one key in `types` per event, format 6 one in `events` too, and format
/// 5 also wrote each posting entry in 44 fixed bytes; this build reads
/// them all, so an index of any of them is kept: its postings take the
/// new form as runs rewrite them, and its `events` and `types` stay as
/// they were created ([`Layout::Each`]). (Format 4 kept the
/// sections in one keyspace, named `index`; format 3 kept every tag entry
/// under a key of its own; formats 1 and 2, never released, held copies
/// of the events.) An index of any other format is rebuilt, and so is an
/// index of a later format opened by a build that does not know it.
const FORMAT_KEY: &[u8] = b"format";
const FORMAT: [u8; 4] = 8u32.to_be_bytes();
const FORMAT_7: [u8; 4] = 7u32.to_be_bytes();
const FORMAT_6: [u8; 4] = 6u32.to_be_bytes();
const FORMAT_5: [u8; 4] = 5u32.to_be_bytes();

/// The key in `meta` present in an index that keeps `events` by blocks:
/// one created by format 7 or later.
const BLOCKS_KEY: &[u8] = b"blocks";

/// The key in `meta` present in an index that keeps `types` by blocks:
/// one created by format 8 or later.
const TYPE_BLOCKS_KEY: &[u8] = b"type_blocks";

/// The keyspace that held every section up to format 4.
const FORMAT_4_KEYSPACE: &str = "index";

/// What the index holds, as recorded with its last write.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Reach {
    /// The last position indexed (0: none).
    pub(super) end: Pos,
    /// Where the log continues after `end`, if recorded.
    pub(super) log: Option<LogPoint>,
    /// The latest time recorded up to `end`.
    pub(super) latest: Option<Timestamp>,
}

/// The on-disk index; see the [module](self).
pub(super) struct DiskIndex {
    /// The database the keyspace is in, held open with it.
    db: Database,
    /// The sections' keyspaces (see [`sections`]).
    sections: Sections,
    /// Every event type's id, loaded on open: a store has few types.
    type_ids: RwLock<HashMap<String, u32>>,
    has_ids: AtomicBool,
    /// Where the events are read from.
    segments: Segments,
    /// How `events` is kept: fixed when the index is created.
    events_layout: Layout,
    /// How `types` is kept: fixed when the index is created.
    types_layout: Layout,
}

impl DiskIndex {
    /// Opens (or creates) the index in `path` of the log in `log_dir`, its
    /// block cache holding up to `cache` bytes.
    pub(super) fn open(
        path: &Path,
        log_dir: PathBuf,
        cache: u64,
    ) -> Result<(DiskIndex, Reach), fjall::Error> {
        let db = Database::builder(path)
            .cache_size(cache)
            .worker_threads(WORKER_THREADS)
            .open()?;
        let earlier = db.keyspace_exists(FORMAT_4_KEYSPACE);
        let sections = Sections::open(&db)?;
        let format = sections.get(keys::meta(FORMAT_KEY))?;
        let written = sections.get(keys::meta(b"end"))?.is_some();
        let readable = matches!(format.as_deref(),
            Some(f) if f == FORMAT || f == FORMAT_7 || f == FORMAT_6 || f == FORMAT_5);
        if earlier || (written && !readable) {
            tracing::warn!(
                dir = %path.display(),
                "the index was written in another format; rebuilding it from the log"
            );
            drop((sections, db));
            std::fs::remove_dir_all(path)?;
            return DiskIndex::open(path, log_dir, cache);
        }
        // An index created before a section was kept by blocks goes on
        // keeping it a key per event; a new one (nothing written yet)
        // keeps both by blocks.
        let layout_of = |key: &[u8]| -> Result<Layout, fjall::Error> {
            Ok(if written && !sections.contains_key(keys::meta(key))? {
                Layout::Each
            } else {
                Layout::Blocks
            })
        };
        let events_layout = layout_of(BLOCKS_KEY)?;
        let types_layout = layout_of(TYPE_BLOCKS_KEY)?;
        let index = DiskIndex {
            sections,
            db,
            type_ids: RwLock::default(),
            has_ids: AtomicBool::new(false),
            segments: Segments::new(log_dir),
            events_layout,
            types_layout,
        };
        let mut type_ids = HashMap::new();
        for guard in index.sections.prefix(keys::TYPE_NAMES) {
            let (key, value) = guard.into_inner()?;
            let name = String::from_utf8_lossy(&key[keys::TYPE_NAMES.len()..]).into_owned();
            type_ids.insert(name, u32_of(&value));
        }
        *index.type_ids.write() = type_ids;
        index.has_ids.store(
            index.sections.contains_key(keys::meta(b"ids"))?,
            Ordering::Relaxed,
        );
        let reach = Reach {
            end: index
                .sections
                .get(keys::meta(b"end"))?
                .map_or(0, |v| u64_of(&v)),
            log: index.sections.get(keys::meta(b"log"))?.map(|v| LogPoint {
                segment: u64_of(&v[..8]),
                offset: u64_of(&v[8..]),
            }),
            latest: index
                .sections
                .get(keys::meta(b"latest"))?
                .map(|v| Timestamp::from_micros(u64_of(&v).cast_signed())),
        };
        Ok((index, reach))
    }

    /// Writes `events`, the first at position `first`, each with its
    /// location in the log, as one sorted run of tables that also records
    /// the new reach: the last position, where the log continues (`log`)
    /// and the latest time. The run is registered atomically, so a reader,
    /// or an open after a crash, sees all of it or none. See the
    /// [module](self).
    ///
    /// It first waits while compaction is behind (`wait_for_compaction`).
    pub(super) fn write<'e>(
        &self,
        first: Pos,
        events: impl IntoIterator<Item = (&'e EventRecord, Location)>,
        log: LogPoint,
        latest: Option<Timestamp>,
    ) -> Result<Pos, BackendError> {
        self.wait_for_compaction();
        self.write_now(first, events, log, latest)
    }

    /// As [`write`](Self::write), without waiting for compaction: for the
    /// first run an open writes, the tail a crash left, which should not
    /// wait for the merges the crashed process left behind.
    pub(super) fn write_now<'e>(
        &self,
        first: Pos,
        events: impl IntoIterator<Item = (&'e EventRecord, Location)>,
        log: LogPoint,
        latest: Option<Timestamp>,
    ) -> Result<Pos, BackendError> {
        #[cfg(test)]
        held::wait(self.segments.dir());
        let mut run = Run::default();
        let mut position = first;
        let mut new_types: Vec<(String, u32)> = Vec::new();
        let mut ids = false;
        // Every tag's entries in this run, grouped by tag below.
        let mut touched: Vec<(&'e str, Entry)> = Vec::new();
        // Every event's entry, by position, for `events` and `types`.
        let mut entries: Vec<Entry> = Vec::new();
        for (event, location) in events {
            let name = event.event_type().as_str();
            let known = self.type_ids.read().get(name).copied();
            let pending = || new_types.iter().find(|(n, _)| n == name).map(|&(_, id)| id);
            let type_id = if let Some(id) = known.or_else(pending) {
                id
            } else {
                let id = u32::try_from(self.type_ids.read().len() + new_types.len())
                    .map_err(|_| BackendError::new("the index holds too many event types"))?;
                run.put(keys::type_name(name), &id.to_be_bytes());
                new_types.push((name.to_owned(), id));
                id
            };
            let entry = Entry {
                position,
                type_id,
                location,
            };
            touched.extend(event.tags().iter().map(|tag| (tag.as_str(), entry)));
            entries.push(entry);
            if let Some(id) = event.id() {
                run.put(keys::id(&id), &position.to_be_bytes());
                ids = true;
            }
            position += 1;
        }
        // In the order of the tags' keys (by length, then bytes; see
        // `keys::posting`), so that their postings and spilled entries are
        // put in key order; stable: each tag's entries stay in order of
        // position.
        touched.sort_by(|a, b| (a.0.len(), a.0).cmp(&(b.0.len(), b.0)));
        touched.dedup_by(|a, b| a.0 == b.0 && a.1.position == b.1.position);
        for group in touched.chunk_by(|a, b| a.0 == b.0) {
            let entries = group.iter().map(|&(_, entry)| entry);
            self.add_to_posting(&mut run, group[0].0, first, entries)?;
        }
        blocks::put(&mut run, &entries, self.events_layout);
        if self.events_layout == Layout::Blocks {
            run.put(keys::meta(BLOCKS_KEY), &[]);
        }
        let typed = entries.iter().map(|entry| (entry.position, entry.type_id));
        types::put(&mut run, typed, self.types_layout);
        if self.types_layout == Layout::Blocks {
            run.put(keys::meta(TYPE_BLOCKS_KEY), &[]);
        }
        let end = position - 1;
        run.put(keys::meta(b"end"), &end.to_be_bytes());
        let mut point = [0; 16];
        point[..8].copy_from_slice(&log.segment.to_be_bytes());
        point[8..].copy_from_slice(&log.offset.to_be_bytes());
        run.put(keys::meta(b"log"), &point);
        if let Some(latest) = latest {
            run.put(keys::meta(b"latest"), &latest.as_micros().to_be_bytes());
        }
        if ids {
            run.put(keys::meta(b"ids"), &[]);
        }
        run.put(keys::meta(FORMAT_KEY), &FORMAT);
        run.ingest(&self.sections).map_err(index_error)?;
        self.type_ids.write().extend(new_types);
        if ids {
            self.has_ids.store(true, Ordering::Relaxed);
        }
        Ok(end)
    }

    /// Puts into `run` what adds `entries`, the tag's entries from
    /// position `first` on, to the index: its posting with them, or,
    /// once the tag has more than [`posting::MAX_ENTRIES`], its entries in
    /// the `tags` section (see [`posting`]).
    fn add_to_posting(
        &self,
        run: &mut Run,
        tag: &str,
        first: Pos,
        entries: impl ExactSizeIterator<Item = Entry> + Clone,
    ) -> Result<(), BackendError> {
        let key = keys::posting(tag);
        let held = match self.posting(&key, tag)? {
            None => Vec::new(),
            Some(Posting::Entries(mut held)) => {
                // Entries from `first` on are of a run written before that
                // is written again: this run's are the ones.
                held.retain(|entry| entry.position < first);
                held
            }
            Some(Posting::Spilled) => {
                put_tag_entries(run, tag, entries);
                return Ok(());
            }
        };
        if held.len() + entries.len() <= posting::MAX_ENTRIES {
            let mut all = held;
            all.extend(entries);
            run.put(key, &Posting::Entries(all).to_bytes());
        } else {
            run.put(key, &Posting::Spilled.to_bytes());
            put_tag_entries(run, tag, held.into_iter().chain(entries));
        }
        Ok(())
    }

    /// The posting of `tag`, under its key `key` (`keys::posting(tag)`);
    /// `None` if no event of it is indexed.
    fn posting(&self, key: &[u8], tag: &str) -> Result<Option<Posting>, BackendError> {
        let Some(value) = self.sections.get(key).map_err(index_error)? else {
            return Ok(None);
        };
        Posting::from_bytes(&value).map(Some).ok_or_else(|| {
            BackendError::new(format!(
                "the index's entry for the tag {tag:?} is damaged; delete the store's index/ \
                 directory to rebuild it from the log"
            ))
        })
    }

    /// Waits while fjall's first level holds [`MAX_L0_TABLES`] tables or
    /// more — each is a run every read looks into — for compaction to
    /// merge them, up to [`MAX_COMPACTION_WAIT`]. Writes faster than
    /// compaction (a bulk import) go at compaction's pace instead of
    /// leaving reads slower and slower.
    fn wait_for_compaction(&self) {
        match wait_while(
            || self.sections.l0_table_count() >= MAX_L0_TABLES,
            Duration::from_millis(2),
        ) {
            Ok(waited) if waited > Duration::ZERO => tracing::debug!(
                seconds = waited.as_secs_f64(),
                "waited for the index's compaction"
            ),
            Ok(_) => {}
            Err(()) => tracing::warn!(
                tables = self.sections.l0_table_count(),
                "the index's compaction is behind; writing to it anyway"
            ),
        }
    }

    /// Waits, up to [`MAX_COMPACTION_WAIT`], until fjall compacts nothing
    /// and its first level is below [`L0_COMPACTION_THRESHOLD`] tables;
    /// returns at once if so already.
    ///
    /// The writer calls it as the store closes. fjall checks for work on
    /// open and merges the first level once it holds that many tables; a
    /// process that closes waits for a merge under way. Without this, the
    /// first short process after a bulk import (a CLI command, say)
    /// started the merge the import left behind, and waited seconds for
    /// it as it closed.
    pub(super) fn settle(&self) {
        match wait_while(
            || {
                self.db.active_compactions() > 0
                    || self.sections.l0_table_count() >= L0_COMPACTION_THRESHOLD
            },
            Duration::from_millis(5),
        ) {
            Ok(waited) if waited > Duration::ZERO => tracing::debug!(
                seconds = waited.as_secs_f64(),
                "waited for the index's compaction to settle before closing"
            ),
            Ok(_) => {}
            Err(()) => tracing::warn!(
                tables = self.sections.l0_table_count(),
                "the index's compaction is still behind as the store closes; the next open \
                 takes it up"
            ),
        }
    }

    /// The id of the event type `name`, if any event of it is indexed.
    fn type_id(&self, name: &str) -> Option<u32> {
        self.type_ids.read().get(name).copied()
    }

    /// Up to `max` matches in `range` of `item`, in the direction asked,
    /// into `out`; returns whether the item's matches in the range ran out.
    fn item_matches(
        &self,
        item: &QueryItem,
        range: (Pos, Pos),
        backwards: bool,
        max: usize,
        out: &mut Vec<Match>,
    ) -> Result<bool, BackendError> {
        let mut type_ids: SmallVec<[u32; 4]> = SmallVec::new();
        for event_type in item.event_types() {
            if let Some(id) = self.type_id(event_type.as_str()) {
                type_ids.push(id);
            }
        }
        if !item.event_types().is_empty() && type_ids.is_empty() {
            // None of the item's types was ever indexed.
            return Ok(true);
        }
        let tags = item.required_tags();
        if tags.is_empty() {
            // Types only: each type's positions, merged.
            let mut exhausted = true;
            for &id in &type_ids {
                let keys = self
                    .sections
                    .range(types::range(id, range, self.types_layout));
                let found = types::walk(keys, range, backwards, max, |position| {
                    out.push((position, None));
                })?;
                exhausted &= found < max;
            }
            return Ok(exhausted);
        }
        self.tag_matches(tags, &type_ids, range, backwards, max, out)
    }

    /// [`item_matches`](Self::item_matches) of an item with `tags` and,
    /// unless empty, the types of `type_ids`.
    fn tag_matches(
        &self,
        tags: &crate::Tags,
        type_ids: &[u32],
        (after, upto): (Pos, Pos),
        backwards: bool,
        max: usize,
        out: &mut Vec<Match>,
    ) -> Result<bool, BackendError> {
        // Tags: each tag's posting; a tag never indexed matches nothing.
        let mut lists: SmallVec<[Option<Vec<Entry>>; 2]> = SmallVec::new();
        for tag in tags {
            match self.posting(&keys::posting(tag.as_str()), tag.as_str())? {
                None => return Ok(true),
                Some(Posting::Entries(entries)) => lists.push(Some(entries)),
                Some(Posting::Spilled) => lists.push(None),
            }
        }
        let prefixes: SmallVec<[Vec<u8>; 2]> = tags
            .iter()
            .map(|tag| keys::tag_prefix(tag.as_str()))
            .collect();
        // Walk the fewest entries, else the first tag's range in `tags`;
        // keep those whose type the item names and that carry the other
        // tags too.
        let driver = (0..lists.len())
            .filter(|&i| lists[i].is_some())
            .min_by_key(|&i| lists[i].as_ref().map_or(usize::MAX, Vec::len))
            .unwrap_or(0);
        let mut failure = None;
        let mut keep = |entry: Entry| -> Option<Match> {
            if !type_ids.is_empty() && !type_ids.contains(&entry.type_id) {
                return None;
            }
            for (i, list) in lists.iter().enumerate() {
                if i == driver {
                    continue;
                }
                let carries = match list {
                    Some(entries) => Ok(entries
                        .binary_search_by_key(&entry.position, |e| e.position)
                        .is_ok()),
                    None => self
                        .sections
                        .contains_key(keys::tag(&prefixes[i], entry.position)),
                };
                match carries {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(err) => {
                        failure.get_or_insert(err);
                        return None;
                    }
                }
            }
            Some((entry.position, Some(entry.location)))
        };
        let found = if let Some(entries) = &lists[driver] {
            let entries = posting::within(entries, after, upto);
            let before = out.len();
            let walk: &mut dyn Iterator<Item = &Entry> = if backwards {
                &mut entries.iter().rev()
            } else {
                &mut entries.iter()
            };
            for entry in walk {
                if out.len() - before >= max {
                    break;
                }
                out.extend(keep(*entry));
            }
            out.len() - before
        } else {
            let keys = self.sections.range(
                keys::tag(&prefixes[driver], after + 1)..=keys::tag(&prefixes[driver], upto),
            );
            collect(
                keys,
                backwards,
                max,
                |key, value| keep(Entry::from_value(keys::position_at_end(key)?, value)?),
                out,
            )?
        };
        if let Some(err) = failure {
            return Err(index_error(err));
        }
        Ok(found < max)
    }

    /// Up to `max` matches in `range` of `query`, in the direction asked,
    /// into `out`, and whether the matches ran out.
    fn matches(
        &self,
        query: &Query,
        range: (Pos, Pos),
        backwards: bool,
        max: usize,
        out: &mut Vec<Match>,
    ) -> Result<bool, BackendError> {
        let mut exhausted = true;
        for item in query.items() {
            exhausted &= self.item_matches(item, range, backwards, max, out)?;
        }
        if backwards {
            out.sort_unstable_by_key(|m| std::cmp::Reverse(m.0));
        } else {
            out.sort_unstable_by_key(|m| m.0);
        }
        out.dedup_by_key(|m| m.0);
        if out.len() > max {
            out.truncate(max);
            exhausted = false;
        }
        Ok(exhausted)
    }

    /// The location of the event at `position`, looked up in `events`.
    fn location(&self, position: Pos) -> Result<Option<Location>, BackendError> {
        self.located(position, &mut Vec::new())
    }

    /// The location of the event at `position`: from `last`, the events of
    /// the key of `events` looked up last, when it holds it; else from the
    /// last key of its block at or before it, whose events then replace
    /// `last`. So a read of consecutive positions decodes each key once.
    fn located(
        &self,
        position: Pos,
        last: &mut Vec<(Pos, Location)>,
    ) -> Result<Option<Location>, BackendError> {
        let find = |events: &[(Pos, Location)]| {
            events
                .binary_search_by_key(&position, |&(p, _)| p)
                .ok()
                .map(|i| events[i].1)
        };
        if let Some(location) = find(last) {
            return Ok(Some(location));
        }
        let keys = keys::event(blocks::block_start(position))..=keys::event(position);
        let Some(guard) = self.sections.range(keys).next_back() else {
            return Ok(None);
        };
        *last = events_of(guard)?;
        Ok(find(last))
    }

    /// The events of `matches`, appended to `out`, read from the log at
    /// the location the match holds, else at the one looked up.
    fn fetch(
        &self,
        matches: Vec<Match>,
        out: &mut Vec<SequencedEvent>,
    ) -> Result<(), BackendError> {
        let mut located = Vec::with_capacity(matches.len());
        let mut last = Vec::new();
        for (position, held) in matches {
            let location = match held {
                Some(location) => location,
                None => self.located(position, &mut last)?.ok_or_else(|| {
                    BackendError::new(format!("the index holds no event at position {position}"))
                })?,
            };
            located.push((position, location));
        }
        self.segments.events(&located, out)
    }
}

impl Below for DiskIndex {
    fn first_match(
        &self,
        query: &Query,
        after: Pos,
        upto: Pos,
    ) -> Result<Option<Pos>, BackendError> {
        if after >= upto {
            return Ok(None);
        }
        if query.is_all() || query.items().iter().any(is_unrestricted) {
            return Ok(Some(after + 1));
        }
        let mut found = Vec::new();
        self.matches(query, (after, upto), false, 1, &mut found)?;
        Ok(found.first().map(|m| m.0))
    }

    fn read(
        &self,
        query: &Query,
        range: (Pos, Pos),
        backwards: bool,
        max: usize,
        out: &mut Vec<SequencedEvent>,
    ) -> Result<bool, BackendError> {
        let (after, upto) = range;
        if after >= upto || max == 0 {
            return Ok(after >= upto);
        }
        if query.is_all() || query.items().iter().any(is_unrestricted) {
            // Every position: the events in order, straight from the
            // blocks of the range.
            let events = self
                .sections
                .range(keys::event(blocks::block_start(after + 1))..=keys::event(upto));
            let mut located = Vec::new();
            walk_keys(events, backwards, &mut |guard| {
                let mut events = events_of(guard)?;
                if backwards {
                    events.reverse();
                }
                let room = max - located.len();
                let wanted = |&(p, _): &(Pos, Location)| after < p && p <= upto;
                located.extend(events.into_iter().filter(wanted).take(room));
                Ok(located.len() < max)
            })?;
            self.segments.events(&located, out)?;
            return Ok(located.len() < max);
        }
        let mut matches = Vec::new();
        let exhausted = self.matches(query, range, backwards, max, &mut matches)?;
        self.fetch(matches, out)?;
        Ok(exhausted)
    }

    fn position_of_id(&self, id: &Uuid) -> Result<Option<Pos>, BackendError> {
        if !self.has_ids() {
            return Ok(None);
        }
        Ok(self
            .sections
            .get(keys::id(id))
            .map_err(index_error)?
            .map(|value| u64_of(&value)))
    }

    fn event(&self, position: Pos) -> Result<Option<EventRecord>, BackendError> {
        let Some(location) = self.location(position)? else {
            return Ok(None);
        };
        let mut found = Vec::with_capacity(1);
        self.segments.events(&[(position, location)], &mut found)?;
        Ok(found.pop().map(|event| event.event))
    }

    fn has_ids(&self) -> bool {
        self.has_ids.load(Ordering::Relaxed)
    }
}

/// Sleeps `poll` at a time while `busy` holds, up to
/// [`MAX_COMPACTION_WAIT`]: `Ok` with the time waited (zero if it never
/// held), `Err` if it still holds.
fn wait_while(busy: impl Fn() -> bool, poll: Duration) -> Result<Duration, ()> {
    let started = Instant::now();
    let mut waited = Duration::ZERO;
    while busy() {
        if started.elapsed() >= MAX_COMPACTION_WAIT {
            return Err(());
        }
        std::thread::sleep(poll);
        waited = started.elapsed();
    }
    Ok(waited)
}

/// Puts `entries` of `tag` into `run` as keys of the `tags` section.
fn put_tag_entries(run: &mut Run, tag: &str, entries: impl IntoIterator<Item = Entry>) {
    let prefix = keys::tag_prefix(tag);
    for entry in entries {
        run.put(keys::tag(&prefix, entry.position), &entry.value());
    }
}

/// Walks `keys` in the direction asked, pushing onto `out` what `keep`
/// makes of each key and value, until `max` are kept; returns how many
/// were.
fn collect(
    keys: fjall::Iter,
    backwards: bool,
    max: usize,
    mut keep: impl FnMut(&[u8], &fjall::Slice) -> Option<Match>,
    out: &mut Vec<Match>,
) -> Result<usize, BackendError> {
    let mut kept = 0;
    let mut visit = |guard: fjall::Guard| -> Result<bool, BackendError> {
        let (key, value) = guard.into_inner().map_err(index_error)?;
        if let Some(found) = keep(&key, &value) {
            out.push(found);
            kept += 1;
        }
        Ok(kept < max)
    };
    walk_keys(keys, backwards, &mut visit)?;
    Ok(kept)
}

/// Walks `keys` in the direction asked, handing each to `visit` until it
/// returns `false` or fails.
fn walk_keys(
    keys: fjall::Iter,
    backwards: bool,
    visit: &mut dyn FnMut(fjall::Guard) -> Result<bool, BackendError>,
) -> Result<(), BackendError> {
    let mut guards: Box<dyn Iterator<Item = fjall::Guard>> = if backwards {
        Box::new(keys.rev())
    } else {
        Box::new(keys)
    };
    for guard in &mut guards {
        if !visit(guard)? {
            break;
        }
    }
    Ok(())
}

fn is_unrestricted(item: &QueryItem) -> bool {
    item.event_types().is_empty() && item.required_tags().is_empty()
}

fn u64_of(bytes: &[u8]) -> u64 {
    <[u8; 8]>::try_from(bytes.get(..8).unwrap_or_default()).map_or(0, u64::from_be_bytes)
}

fn u32_of(bytes: &[u8]) -> u32 {
    <[u8; 4]>::try_from(bytes.get(..4).unwrap_or_default()).map_or(0, u32::from_be_bytes)
}

/// The events, by position, that the key of `events` in `guard` holds.
fn events_of(guard: fjall::Guard) -> Result<Vec<(Pos, Location)>, BackendError> {
    let (key, value) = guard.into_inner().map_err(index_error)?;
    let at = keys::position_at_end(&key).unwrap_or_default();
    blocks::decode(at, &value).ok_or_else(|| damaged(at))
}

/// The error of an index entry for `position` that cannot be read.
fn damaged(position: Pos) -> BackendError {
    BackendError::new(format!(
        "the index's entry for the event at position {position} is damaged; delete the \
         store's index/ directory to rebuild it from the log"
    ))
}

/// An error of the index's database as a backend error.
pub(super) fn index_error(err: fjall::Error) -> BackendError {
    BackendError::with_source("the embedded store's index failed", err)
}

/// For tests: holds the index writes of a store, to see what the writer
/// does meanwhile.
#[cfg(test)]
pub(super) mod held {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    static HELD: parking_lot::Mutex<Vec<PathBuf>> = parking_lot::Mutex::new(Vec::new());

    /// Index writes of the store in `dir` wait until the returned guard is
    /// dropped (also when the test fails, so that its store can close).
    pub(in crate::store::embedded) fn hold(dir: &Path) -> Held {
        HELD.lock().push(dir.to_owned());
        Held(dir.to_owned())
    }

    /// Holds the index writes of a store while alive.
    pub(in crate::store::embedded) struct Held(PathBuf);

    impl Drop for Held {
        fn drop(&mut self) {
            HELD.lock().retain(|held| *held != self.0);
        }
    }

    /// Waits while the store in `dir` is held.
    pub(super) fn wait(dir: &Path) {
        while HELD.lock().iter().any(|held| held == dir) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[cfg(test)]
mod tests;
