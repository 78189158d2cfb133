//! `#[read_model]`: a read model's query derived from its handlers, and its
//! events dispatched to them by a runner.

use std::collections::BTreeMap;

use dcb_core::read_model::{MemoryStorage, ReadModel, Runner};
use dcb_core::{
    Event, EventStore, Id, InMemoryStore, Position, Query, QueryItem, SequencedEvent, read_model,
};
use serde::{Deserialize, Serialize};

use crate::support::block_on;

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
struct ShelfId(u32);

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
struct ShelfBuilt {
    #[tag]
    shelf_id: ShelfId,
    label: String,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
struct ShelfRelabelled {
    #[tag]
    shelf_id: ShelfId,
    label: String,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
struct ShelfDusted {
    #[tag]
    shelf_id: ShelfId,
}

/// Every shelf's label and the position of its last change, and the
/// stored types the second handler saw.
#[derive(Clone, Default, Serialize, Deserialize, Debug, PartialEq)]
struct Labels {
    labels: BTreeMap<u32, (String, u64)>,
    relabelled_types: Vec<String>,
}

#[read_model]
impl Labels {
    fn built(&mut self, event: &ShelfBuilt, position: Position) {
        self.labels
            .insert(event.shelf_id.get(), (event.label.clone(), position.get()));
    }

    fn relabelled(&mut self, event: &ShelfRelabelled, stored: &SequencedEvent) {
        self.labels.insert(
            event.shelf_id.get(),
            (event.label.clone(), stored.position.get()),
        );
        self.relabelled_types
            .push(stored.event_type().as_str().to_owned());
    }
}

#[test]
fn the_query_is_the_handled_types() {
    assert_eq!(
        Labels::default().query(),
        Query::from(QueryItem::new().types([ShelfBuilt::EVENT_TYPE, ShelfRelabelled::EVENT_TYPE])),
    );
}

#[test]
fn a_runner_gives_each_handler_its_events() {
    block_on(async {
        let store = InMemoryStore::new();
        let events = vec![
            ShelfBuilt {
                shelf_id: ShelfId(1),
                label: "maths".into(),
            }
            .to_event()
            .unwrap(),
            ShelfDusted {
                shelf_id: ShelfId(1),
            }
            .to_event()
            .unwrap(),
            ShelfBuilt {
                shelf_id: ShelfId(2),
                label: "latin".into(),
            }
            .to_event()
            .unwrap(),
            ShelfRelabelled {
                shelf_id: ShelfId(1),
                label: "algebra".into(),
            }
            .to_event()
            .unwrap(),
        ];
        store.append(events, None).await.unwrap();
        let mut runner = Runner::<_, Labels, _>::start(store, MemoryStorage::default())
            .await
            .unwrap();
        runner.catch_up().await.unwrap();
        let handle = runner.handle();
        let labels = handle.read().await;
        assert_eq!(
            labels.labels,
            BTreeMap::from([(1, ("algebra".into(), 4)), (2, ("latin".into(), 3))])
        );
        assert_eq!(labels.relabelled_types, ["ShelfRelabelled"]);
    });
}

/// When each shelf was last dusted and by whom: handlers may take the
/// event's recorded time or its metadata.
#[derive(Clone, Default, Serialize, Deserialize, Debug, PartialEq)]
struct Dusting {
    dusted_at: BTreeMap<u32, Option<dcb_core::Timestamp>>,
    built_by: BTreeMap<u32, String>,
}

#[read_model]
impl Dusting {
    fn dusted(&mut self, event: &ShelfDusted, recorded_at: Option<dcb_core::Timestamp>) {
        self.dusted_at.insert(event.shelf_id.get(), recorded_at);
    }

    fn built(&mut self, event: &ShelfBuilt, metadata: &dcb_core::Metadata) {
        let user = metadata.get("user").unwrap_or("nobody").to_owned();
        self.built_by.insert(event.shelf_id.get(), user);
    }
}

#[test]
fn read_model_handlers_see_recorded_times_and_metadata() {
    block_on(async {
        let noon: dcb_core::Timestamp = "2026-12-05T12:00:00Z".parse().unwrap();
        let store = InMemoryStore::new().with_clock(dcb_core::Clock::fixed(noon));
        let built = ShelfBuilt {
            shelf_id: ShelfId(7),
            label: "poetry".into(),
        }
        .to_event()
        .unwrap()
        .with_metadata([("user", "ada")]);
        let dusted = ShelfDusted {
            shelf_id: ShelfId(7),
        }
        .to_event()
        .unwrap();
        store.append(vec![built, dusted], None).await.unwrap();
        let mut runner = Runner::<_, Dusting, _>::start(store, MemoryStorage::default())
            .await
            .unwrap();
        runner.catch_up().await.unwrap();
        let dusting = runner.handle().read().await.clone();
        assert_eq!(dusting.dusted_at, BTreeMap::from([(7, Some(noon))]));
        assert_eq!(dusting.built_by, BTreeMap::from([(7, "ada".to_owned())]));
    });
}
