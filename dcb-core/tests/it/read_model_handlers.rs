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
