//! The index's own tests: its format and reach, and reads by tag
//! against a model, in postings and spilled tags.

use super::*;

#[test]
fn an_index_of_another_format_opens_empty_to_be_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    {
        let (index, _) = DiskIndex::open(&path, dir.path().to_owned(), 1 << 20).unwrap();
        let mut run = Run::default();
        run.put(keys::meta(b"end"), &7u64.to_be_bytes());
        run.ingest(&index.sections).unwrap();
    }
    let (index, reach) = DiskIndex::open(&path, dir.path().to_owned(), 1 << 20).unwrap();
    assert_eq!(reach.end, 0);
    assert!(index.sections.get(keys::meta(b"end")).unwrap().is_none());
}

/// An index of format 4 kept every section in one keyspace, `index`;
/// opened, it is rebuilt (and its keyspace gone), not read as empty
/// sections beside a stale one.
#[test]
fn an_index_of_one_keyspace_opens_empty_to_be_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    {
        let db = Database::builder(&path).open().unwrap();
        let earlier = db
            .keyspace(FORMAT_4_KEYSPACE, fjall::KeyspaceCreateOptions::default)
            .unwrap();
        earlier
            .insert(keys::meta(b"end"), 7u64.to_be_bytes())
            .unwrap();
        earlier
            .insert(keys::meta(FORMAT_KEY), 4u32.to_be_bytes())
            .unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    let (index, reach) = DiskIndex::open(&path, dir.path().to_owned(), 1 << 20).unwrap();
    assert_eq!(reach.end, 0);
    assert!(!index.db.keyspace_exists(FORMAT_4_KEYSPACE));
}

#[test]
fn an_index_of_this_format_keeps_its_reach() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    {
        let (index, _) = DiskIndex::open(&path, dir.path().to_owned(), 1 << 20).unwrap();
        let event = EventRecord::new(crate::EventType::from_static("A"), "{}")
            .with_tags([crate::Tag::from_static("t:1")]);
        let point = LogPoint {
            segment: 1,
            offset: 100,
        };
        let location = Location {
            segment: 1,
            offset: 8,
            len: 40,
            crc: 0,
            recorded_at: None,
        };
        index.write(1, [(&event, location)], point, None).unwrap();
    }
    let (_, reach) = DiskIndex::open(&path, dir.path().to_owned(), 1 << 20).unwrap();
    assert_eq!(reach.end, 1);
}

/// An index of format 5 differs only in its postings' fixed-width
/// entries, which this build reads: it is kept, not rebuilt, its postings
/// read as written, and a run adds to them in the new form.
#[test]
fn an_index_of_format_5_is_kept_and_its_postings_grow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    {
        let (index, _) = DiskIndex::open(&path, dir.path().to_owned(), 1 << 20).unwrap();
        write_events(&index, 1, 2, tagged).unwrap();
        // What format 5 wrote: the posting of `a` (positions 1 and 2) in
        // fixed-width entries, and its format.
        let Some(Posting::Entries(entries)) = index.posting(&keys::posting("a"), "a").unwrap()
        else {
            panic!("a's posting");
        };
        assert_eq!(entries.len(), 2);
        let mut run = Run::default();
        run.put(keys::posting("a"), &Posting::format_5_bytes(&entries));
        run.put(keys::meta(FORMAT_KEY), &FORMAT_5);
        run.ingest(&index.sections).unwrap();
    }
    let (index, reach) = DiskIndex::open(&path, dir.path().to_owned(), 1 << 20).unwrap();
    assert_eq!(reach.end, 2, "kept, not rebuilt");
    write_events(&index, 3, 2, tagged).unwrap();
    let item = QueryItem::new().tags([crate::Tag::from_static("a")]);
    let mut found = Vec::new();
    index
        .item_matches(&item, (0, 4), false, usize::MAX, &mut found)
        .unwrap();
    let expected: Vec<Match> = (1..=4).map(|p| (p, Some(location_of(p)))).collect();
    assert_eq!(found, expected);
    assert_eq!(
        index
            .sections
            .get(keys::meta(FORMAT_KEY))
            .unwrap()
            .as_deref(),
        Some(FORMAT.as_slice())
    );
}

/// Each event's location, looked up by position in `events`, for
/// positions `1..=end`.
fn locations(index: &DiskIndex, end: Pos) -> Vec<Option<Location>> {
    (1..=end).map(|p| index.location(p).unwrap()).collect()
}

/// The keys of `events`, by the position each names.
fn event_keys(index: &DiskIndex) -> Vec<Pos> {
    index
        .sections
        .prefix(&[keys::EVENTS])
        .map(|guard| keys::position_at_end(&guard.key().unwrap()).unwrap())
        .collect()
}

/// A new index keeps `events` by blocks of 64 positions: a run puts one
/// key per block it reaches, and every position's location is found in
/// its block, across runs that start and end inside blocks.
#[test]
fn events_are_kept_by_blocks_of_positions() {
    let (_dir, index) = empty_index();
    write_events(&index, 1, 100, tagged).unwrap();
    write_events(&index, 101, 30, tagged).unwrap();
    assert_eq!(event_keys(&index), [1, 65, 101, 129]);
    let expected: Vec<Option<Location>> = (1..=130).map(|p| Some(location_of(p))).collect();
    assert_eq!(locations(&index, 130), expected);
    assert_eq!(index.location(131).unwrap(), None);
}

/// An index of format 6 kept one key in `events` per event: it is kept,
/// not rebuilt, its events' locations read as written, and its runs go on
/// writing one key per event.
#[test]
fn an_index_of_format_6_is_kept_with_a_key_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    {
        let (index, _) = DiskIndex::open(&path, dir.path().to_owned(), 1 << 20).unwrap();
        // What format 6 wrote: a key per event, its format, no `blocks`.
        let mut run = Run::default();
        for position in 1..=3 {
            run.put(keys::event(position), &location_of(position).to_bytes());
        }
        run.put(keys::meta(b"end"), &3u64.to_be_bytes());
        run.put(keys::meta(FORMAT_KEY), &FORMAT_6);
        run.ingest(&index.sections).unwrap();
    }
    let (index, reach) = DiskIndex::open(&path, dir.path().to_owned(), 1 << 20).unwrap();
    assert_eq!(reach.end, 3, "kept, not rebuilt");
    write_events(&index, 4, 3, tagged).unwrap();
    assert_eq!(event_keys(&index), [1, 2, 3, 4, 5, 6]);
    let expected: Vec<Option<Location>> = (1..=6).map(|p| Some(location_of(p))).collect();
    assert_eq!(locations(&index, 6), expected);
}

/// The first positions of the keys of `types` of the type named `name`.
fn type_keys(index: &DiskIndex, name: &str) -> Vec<Pos> {
    let id = index.type_id(name).unwrap();
    index
        .sections
        .range(keys::type_at(id, 0)..=keys::type_at(id, Pos::MAX))
        .map(|guard| keys::position_at_end(&guard.key().unwrap()).unwrap())
        .collect()
}

/// Checks that the positions of type `A` (the even ones of `1..=end`)
/// read back from `index` from anywhere to anywhere, in both directions,
/// a few at a time or all.
fn check_reads_of_type_a(index: &DiskIndex, end: Pos) {
    let item = QueryItem::new().types([crate::EventType::from_static("A")]);
    // Around the first block's start and end, inside it, and at the end.
    let mut bounds = vec![0, 1, 2, 3, 999, 1000, 1001, 1024, 1025, 1026, 1500];
    bounds.extend([end - 1, end]);
    for &after in &bounds {
        for &upto in &bounds {
            for (backwards, max) in [
                (false, 3),
                (true, 3),
                (false, usize::MAX),
                (true, usize::MAX),
            ] {
                let mut expected: Vec<Pos> =
                    (after + 1..=upto).filter(|p| p.is_multiple_of(2)).collect();
                if backwards {
                    expected.reverse();
                }
                expected.truncate(max);
                let mut found = Vec::new();
                let exhausted = index
                    .item_matches(&item, (after, upto), backwards, max, &mut found)
                    .unwrap();
                let positions: Vec<Pos> = found.iter().map(|m| m.0).collect();
                assert_eq!(
                    positions, expected,
                    "({after}, {upto}] backwards {backwards}"
                );
                if positions.len() < max {
                    assert!(exhausted, "({after}, {upto}] backwards {backwards}");
                }
            }
        }
    }
}

/// A new index keeps `types` by blocks of 1,024 positions: a run puts one
/// key per type and block it reaches, at the type's first position of the
/// run in the block, and reads by type find every position from
/// anywhere, across runs that start and end inside blocks.
#[test]
fn types_are_kept_by_blocks_of_positions() {
    let (_dir, index) = empty_index();
    write_events(&index, 1, 1000, tagged).unwrap();
    write_events(&index, 1001, 1100, tagged).unwrap();
    assert_eq!(type_keys(&index, "A"), [2, 1002, 1026, 2050]);
    assert_eq!(type_keys(&index, "B"), [1, 1001, 1025, 2049]);
    check_reads_of_type_a(&index, 2100);
}

/// An index of format 7 kept one key in `types` per event: it is kept,
/// not rebuilt, its types read as written, and its runs go on writing one
/// key per event.
#[test]
fn an_index_of_format_7_is_kept_with_a_key_per_event_of_a_type() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    {
        let (mut index, _) = DiskIndex::open(&path, dir.path().to_owned(), 1 << 20).unwrap();
        // What format 7 wrote: a key per event in `types`, its format, no
        // `type_blocks`.
        index.types_layout = Layout::Each;
        write_events(&index, 1, 1000, tagged).unwrap();
        let mut run = Run::default();
        run.put(keys::meta(FORMAT_KEY), &FORMAT_7);
        run.ingest(&index.sections).unwrap();
    }
    let (index, reach) = DiskIndex::open(&path, dir.path().to_owned(), 1 << 20).unwrap();
    assert_eq!(reach.end, 1000, "kept, not rebuilt");
    assert_eq!(index.types_layout, Layout::Each);
    write_events(&index, 1001, 1100, tagged).unwrap();
    let every_even: Vec<Pos> = (1..=2100).filter(|p: &Pos| p.is_multiple_of(2)).collect();
    assert_eq!(type_keys(&index, "A"), every_even);
    check_reads_of_type_a(&index, 2100);
}

/// Events at positions 1, 2, …: `A` at even positions, `B` at odd; every
/// one tagged `a`, every third `b`, every tenth `c`. So over a few runs
/// `a` spills out of its posting first, then `b`, while `c` stays in
/// its posting.
fn tagged(position: Pos) -> EventRecord {
    let event_type = if position.is_multiple_of(2) { "A" } else { "B" };
    let mut tags = vec![crate::Tag::from_static("a")];
    if position.is_multiple_of(3) {
        tags.push(crate::Tag::from_static("b"));
    }
    if position.is_multiple_of(10) {
        tags.push(crate::Tag::from_static("c"));
    }
    EventRecord::new(crate::EventType::new(event_type).unwrap(), "{}").with_tags(tags)
}

fn location_of(position: Pos) -> Location {
    Location {
        segment: 1,
        offset: position * 64,
        len: 64,
        crc: u32::try_from(position).unwrap(),
        recorded_at: None,
    }
}

/// An index of its own, in a directory that lives as long as the guard.
fn empty_index() -> (tempfile::TempDir, DiskIndex) {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) =
        DiskIndex::open(&dir.path().join("index"), dir.path().to_owned(), 1 << 20).unwrap();
    (dir, index)
}

/// Writes the events `tagged` makes for positions `first..first + len` to
/// `index` as one run.
fn write_tagged(index: &DiskIndex, first: Pos, len: Pos) -> Result<(), BackendError> {
    write_events(index, first, len, tagged)
}

/// Writes the events `event` makes for positions `first..first + len` to
/// `index` as one run.
fn write_events(
    index: &DiskIndex,
    first: Pos,
    len: Pos,
    event: impl Fn(Pos) -> EventRecord,
) -> Result<(), BackendError> {
    let events: Vec<EventRecord> = (first..first + len).map(event).collect();
    let located = events
        .iter()
        .zip(first..)
        .map(|(event, position)| (event, location_of(position)));
    let point = LogPoint {
        segment: 1,
        offset: (first + len) * 64,
    };
    index.write(first, located, point, None).map(|_| ())
}

#[test]
fn reads_by_tag_find_the_same_events_in_postings_and_spilled_tags() {
    let (_dir, index) = empty_index();
    let tag = |name: &'static str| crate::Tag::from_static(name);
    let items = [
        QueryItem::new().tags([tag("a")]),
        QueryItem::new().tags([tag("b")]),
        QueryItem::new().tags([tag("c")]),
        QueryItem::new().tags([tag("a"), tag("b")]),
        QueryItem::new().tags([tag("b"), tag("c")]),
        QueryItem::new().tags([tag("c"), tag("a")]),
        QueryItem::new().tags([tag("c"), tag("b"), tag("a")]),
        QueryItem::new().tags([tag("d")]),
        QueryItem::new().tags([tag("b"), tag("d")]),
        QueryItem::new()
            .types([crate::EventType::from_static("A")])
            .tags([tag("b")]),
        QueryItem::new()
            .types([crate::EventType::from_static("B")])
            .tags([tag("c"), tag("a")]),
    ];
    let mut end: Pos = 0;
    let mut spilled = Vec::new();
    // Runs of these lengths, then the last run written again from
    // position 330 (a write whose index write failed after its run was
    // in, say) with more events: no entry is counted twice.
    let runs = [1, 5, 30, 40, 100, 7, 150].map(|len| (None, len));
    for (from, len) in runs.into_iter().chain([(Some(330), 16)]) {
        let first = from.unwrap_or(end + 1);
        write_tagged(&index, first, len).unwrap();
        end = first + len - 1;
        for name in ["a", "b", "c"] {
            if index.posting(&keys::posting(name), name).unwrap() == Some(Posting::Spilled)
                && !spilled.contains(&name)
            {
                spilled.push(name);
            }
        }
        for item in &items {
            for (after, upto) in [
                (0, end),
                (end / 3, end),
                (0, end / 2),
                (end / 4, end / 2 + 1),
            ] {
                let expected: Vec<Pos> = (after + 1..=upto)
                    .filter(|&p| item.matches(&tagged(p)))
                    .collect();
                for backwards in [false, true] {
                    for max in [1, 3, usize::MAX] {
                        let mut want = expected.clone();
                        if backwards {
                            want.reverse();
                        }
                        want.truncate(max);
                        let mut found = Vec::new();
                        let exhausted = index
                            .item_matches(item, (after, upto), backwards, max, &mut found)
                            .unwrap();
                        let positions: Vec<Pos> = found.iter().map(|m| m.0).collect();
                        assert_eq!(
                            positions, want,
                            "{item:?} in ({after}, {upto}], backwards {backwards}, max {max}"
                        );
                        assert!(
                            found.iter().all(|&(p, at)| at == Some(location_of(p))),
                            "{item:?}: each match with its location"
                        );
                        assert_eq!(
                            exhausted,
                            want.len() < max,
                            "ran out only when fewer than max"
                        );
                    }
                }
            }
        }
    }
    assert_eq!(
        spilled,
        ["a", "b"],
        "a and b spilled, in that order; c did not"
    );
}

/// A posting that cannot be read is an error that names its tag and says
/// how to rebuild the index, for reads and for a hand-down adding to it;
/// never a panic, and never a read that silently misses the tag's events.
#[test]
fn a_damaged_posting_is_an_error_that_says_how_to_rebuild() {
    let (_dir, index) = empty_index();
    let write = |first: Pos| write_tagged(&index, first, 3);
    write(1).unwrap();
    let mut run = Run::default();
    run.put(keys::posting("a"), &[0xff; 13]);
    run.ingest(&index.sections).unwrap();

    let query = Query::from(QueryItem::new().tags([crate::Tag::from_static("a")]));
    let mut out = Vec::new();
    let read = index.read(&query, (0, 3), false, 10, &mut out);
    let first = index.first_match(&query, 0, 3);
    let handed_down = write(4);
    for outcome in [read.map(|_| ()), first.map(|_| ()), handed_down] {
        let message = outcome
            .expect_err("the damaged posting is reported")
            .to_string();
        assert!(
            message.contains("\"a\"") && message.contains("damaged") && message.contains("index/"),
            "{message}"
        );
    }
}

/// Runs written faster than fjall merges them leave its first level full;
/// `settle` returns once fjall has merged them and merges nothing more.
#[test]
fn settling_waits_until_the_first_level_is_merged() {
    let (_dir, index) = empty_index();
    let mut end = 0;
    for len in [200, 300, 200, 300, 200, 300, 200, 300] {
        write_tagged(&index, end + 1, len).unwrap();
        end += len;
    }
    index.settle();
    assert!(
        index.sections.l0_table_count() < L0_COMPACTION_THRESHOLD
            && index.db.active_compactions() == 0,
        "{} tables in the first level, {} compactions",
        index.sections.l0_table_count(),
        index.db.active_compactions()
    );
}

/// A run cut between its sections' ingestions — its entries in the other
/// sections, but not `meta`, which holds the reach and the ids of new
/// types — leaves the reach where it was; the next write from there (the
/// replay after a crash, or the writer's next try) writes the run again,
/// and reads then find each event once, a new type under the id the
/// write gives it.
#[test]
fn a_run_cut_before_its_reach_is_written_again_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let open = || DiskIndex::open(&path, dir.path().to_owned(), 1 << 20).unwrap();
    // `tagged`, but from position 21 on every seventh event is a `C`
    // tagged `a` and `c`: a type the cut run is the first to write.
    let event = |position: Pos| {
        if position > 20 && position.is_multiple_of(7) {
            EventRecord::new(crate::EventType::from_static("C"), "{}")
                .with_tags([crate::Tag::from_static("a"), crate::Tag::from_static("c")])
        } else {
            tagged(position)
        }
    };
    let write = |index: &DiskIndex, first: Pos, len: Pos| write_events(index, first, len, event);
    {
        let (index, _) = open();
        write(&index, 1, 20).unwrap();
        let cut = sections::cut::before_meta_while(|| write(&index, 21, 10));
        assert!(cut.is_err(), "the run was cut");
    }
    let (index, reach) = open();
    assert_eq!(reach.end, 20, "the reach is the last whole run's");
    assert!(
        index.sections.get(keys::event(21)).unwrap().is_some(),
        "the cut run left entries past the reach"
    );
    assert_eq!(index.type_id("C"), None, "the new type's id went with meta");

    write(&index, 21, 15).unwrap();
    let expected: Vec<Option<Location>> = (1..=35).map(|p| Some(location_of(p))).collect();
    assert_eq!(locations(&index, 35), expected);
    let tag = |name: &'static str| crate::Tag::from_static(name);
    let of_type = |name: &'static str| crate::EventType::from_static(name);
    for item in [
        QueryItem::new().tags([tag("a")]),
        QueryItem::new().tags([tag("c")]),
        QueryItem::new().types([of_type("C")]),
        QueryItem::new().types([of_type("A")]).tags([tag("b")]),
        QueryItem::new().types([of_type("C")]).tags([tag("c")]),
    ] {
        let expected: Vec<Pos> = (1..=35).filter(|&p| item.matches(&event(p))).collect();
        let mut found = Vec::new();
        index
            .item_matches(&item, (0, 35), false, usize::MAX, &mut found)
            .unwrap();
        let positions: Vec<Pos> = found.iter().map(|m| m.0).collect();
        assert_eq!(positions, expected, "{item:?}");
    }
}
