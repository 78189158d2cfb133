//! How often a runner saves while it catches up: every `save_every`
//! events, spaced out when saving is slow, so that catching up on a long
//! log is not dominated by saving an ever larger model.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dcb_core::read_model::{Runner, Saved, Storage, StorageError};
use dcb_core::{EventRecord, EventStore, EventType, InMemoryStore, Position};

use crate::support::Count;

/// A storage whose every save takes `took` (of the paused clock), and
/// which counts them.
#[derive(Clone)]
struct Slow {
    took: Duration,
    saves: Arc<AtomicUsize>,
}

impl Storage<Count> for Slow {
    async fn load(&self) -> Result<Option<Saved<Count>>, StorageError> {
        Ok(None)
    }

    async fn save(&self, _: &Count, _: Position) -> Result<(), StorageError> {
        tokio::time::sleep(self.took).await;
        self.saves.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A store of `events` events.
async fn store_of(events: usize) -> InMemoryStore {
    let store = InMemoryStore::new();
    let opened = EventRecord::new(EventType::from_static("Opened"), "{}");
    store
        .append(vec![opened; events], None)
        .await
        .expect("append");
    store
}

/// Catches a runner saving every event up on `events` events; returns how
/// many saves it made.
async fn saves_catching_up(events: usize, took: Duration) -> usize {
    let saves = Arc::new(AtomicUsize::new(0));
    let storage = Slow {
        took,
        saves: Arc::clone(&saves),
    };
    let mut runner = Runner::<_, Count, _>::start(store_of(events).await, storage)
        .await
        .expect("start")
        .save_every(1);
    runner.catch_up().await.expect("catch up");
    assert_eq!(runner.handle().read().await.0, events as u64);
    saves.load(Ordering::Relaxed)
}

#[tokio::test(start_paused = true)]
async fn a_quick_save_is_made_every_save_every_events() {
    // 10 subscription batches, no time passing: a save after each.
    let saves = saves_catching_up(2_560, Duration::ZERO).await;
    assert_eq!(saves, 10);
}

#[tokio::test(start_paused = true)]
async fn a_slow_save_waits_ten_times_as_long_as_it_took() {
    // The bug: a runner saved the whole model every 10,000 events, so the
    // first catch-up on 10M events saved 1,000 ever larger models (more
    // than 16 minutes). Now a save waits until ten times its duration has
    // passed: here no time passes while applying, so after the first save
    // only the one on catching up is made.
    let saves = saves_catching_up(2_560, Duration::from_secs(1)).await;
    assert_eq!(saves, 2);
}
