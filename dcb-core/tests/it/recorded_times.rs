//! Recorded times never decrease along positions, whatever the clock does:
//! set back while a store is open, or across a restart. The conformance
//! suite (`conformance::recording`) checks times and metadata on every
//! store with the system clock; these tests set the clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use dcb_core::embedded::{EmbeddedOptions, EmbeddedStore};
use dcb_core::{
    Clock, EventRecord, EventStore, InMemoryStore, Metadata, Query, ReadOptions, Timestamp,
};

use crate::support::{block_on, event_type};

fn time(text: &str) -> Timestamp {
    text.parse().expect("a time")
}

fn event(n: u32) -> EventRecord {
    EventRecord::new(event_type("Ticked"), format!("{n}"))
}

async fn times<S: EventStore>(store: &S) -> Vec<Option<Timestamp>> {
    store
        .read_to_end(&Query::all(), ReadOptions::new())
        .await
        .expect("read")
        .events
        .into_iter()
        .map(|e| e.recorded_at)
        .collect()
}

/// A clock the test sets, as microseconds since the epoch.
fn settable() -> (Arc<AtomicI64>, Clock) {
    let now = Arc::new(AtomicI64::new(0));
    let clock = {
        let now = Arc::clone(&now);
        Clock::from_fn(move || Timestamp::from_micros(now.load(Ordering::Relaxed)))
    };
    (now, clock)
}

#[test]
fn a_clock_set_back_does_not_record_an_event_before_an_earlier_one() {
    block_on(async {
        let (now, clock) = settable();
        let store = InMemoryStore::new().with_clock(clock);
        let (noon, morning) = (time("2026-12-05T12:00:00Z"), time("2026-12-05T08:00:00Z"));
        now.store(noon.as_micros(), Ordering::Relaxed);
        store.append(vec![event(1)], None).await.unwrap();
        now.store(morning.as_micros(), Ordering::Relaxed);
        store.append(vec![event(2)], None).await.unwrap();
        let evening = time("2026-12-05T18:00:00Z");
        now.store(evening.as_micros(), Ordering::Relaxed);
        store.append(vec![event(3)], None).await.unwrap();
        assert_eq!(times(&store).await, [Some(noon), Some(noon), Some(evening)]);
    });
}

#[test]
fn the_embedded_store_keeps_its_latest_time_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (noon, morning, evening) = (
        time("2026-12-05T12:00:00Z"),
        time("2026-12-05T08:00:00Z"),
        time("2026-12-05T18:00:00Z"),
    );
    let open = |at: Timestamp| {
        EmbeddedStore::open_with(
            dir.path(),
            &EmbeddedOptions::default().clock(Clock::fixed(at)),
        )
        .expect("open")
    };
    block_on(async {
        let store = open(noon);
        store.append(vec![event(1)], None).await.unwrap();
        store.close();
        // Restarted with a clock that went back four hours.
        let store = open(morning);
        store.append(vec![event(2), event(3)], None).await.unwrap();
        store.close();
        let store = open(evening);
        store.append(vec![event(4)], None).await.unwrap();
        assert_eq!(
            times(&store).await,
            [Some(noon), Some(noon), Some(noon), Some(evening)]
        );
        store.close();
    });
}

#[test]
fn a_reader_sees_the_writers_times_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let noon = time("2026-12-05T12:00:00Z");
    block_on(async {
        let writer = EmbeddedStore::open_with(
            dir.path(),
            &EmbeddedOptions::default().clock(Clock::fixed(noon)),
        )
        .unwrap();
        let tagged = event(1).with_metadata([(Metadata::CORRELATION, "req-1")]);
        writer.append(vec![tagged.clone()], None).await.unwrap();
        let reader = EmbeddedStore::open_read_only(dir.path()).unwrap();
        let read = reader
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .unwrap();
        assert_eq!(read.events[0].recorded_at, Some(noon));
        assert_eq!(read.events[0].event, tagged);
        // And what it follows after opening.
        writer.append(vec![event(2)], None).await.unwrap();
        let mut subscription = reader.subscribe(Query::all(), read.head);
        let next = subscription.next().await.expect("read");
        assert_eq!(next.recorded_at, Some(noon));
        writer.close();
    });
}
