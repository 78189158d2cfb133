//! Appending inside the application's own transaction
//! (`PostgresStore::append_in_transaction`): a table of the application's
//! and the events are written together — both or neither — under the same
//! condition and locks as any append, and only at READ COMMITTED.

use dcb_core::postgres::PostgresStore;
use dcb_core::{
    AppendCondition, AppendError, EventRecord, EventStore, EventType, Query, QueryItem,
    ReadOptions, Tag,
};

use crate::postgres_support::{raw_client, runtime, temp_schema};

fn placed(order: i64) -> EventRecord {
    EventRecord::new(
        EventType::from_static("OrderPlaced"),
        format!("{{\"id\":{order}}}"),
    )
    .with_tags([
        Tag::new(format!("order:{order}")).unwrap(),
        Tag::from_static("shop:1"),
    ])
}

/// The condition of a decision that saw no event of the shop.
fn nothing_in_the_shop() -> AppendCondition {
    AppendCondition::new(Query::from(
        QueryItem::new().tags([Tag::from_static("shop:1")]),
    ))
}

async fn orders(client: &tokio_postgres::Client, schema: &str) -> Vec<i64> {
    client
        .query(
            &format!("SELECT id FROM \"{schema}\".orders ORDER BY id"),
            &[],
        )
        .await
        .expect("read the orders")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

async fn events(store: &PostgresStore) -> usize {
    store
        .read_to_end(&Query::all(), ReadOptions::new())
        .await
        .expect("read the events")
        .events
        .len()
}

#[test]
fn the_applications_rows_and_the_events_are_written_together() {
    runtime(2).block_on(async {
        let Some(schema) = temp_schema(4).await else {
            return;
        };
        let Some(mut client) = raw_client().await else {
            return;
        };
        let store = schema.store.clone();
        let name = store.schema().to_owned();
        client
            .batch_execute(&format!("CREATE TABLE \"{name}\".orders (id bigint PRIMARY KEY)"))
            .await
            .expect("the application's table");
        let insert = format!("INSERT INTO \"{name}\".orders (id) VALUES ($1)");

        // Rolled back: neither the row nor the event.
        let transaction = client.transaction().await.unwrap();
        transaction.execute(&insert, &[&1_i64]).await.unwrap();
        store
            .append_in_transaction(&transaction, vec![placed(1)], Some(nothing_in_the_shop()))
            .await
            .expect("the append");
        transaction.rollback().await.unwrap();
        assert_eq!((orders(&client, &name).await, events(&store).await), (vec![], 0));

        // Committed: both.
        let transaction = client.transaction().await.unwrap();
        transaction.execute(&insert, &[&2_i64]).await.unwrap();
        let position = store
            .append_in_transaction(&transaction, vec![placed(2)], Some(nothing_in_the_shop()))
            .await
            .expect("the append");
        transaction.commit().await.unwrap();
        assert_eq!((orders(&client, &name).await, events(&store).await), (vec![2], 1));
        let stored = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .unwrap();
        assert_eq!(stored.events[0].position, position);

        // The condition fails now: the application rolls its row back too.
        let transaction = client.transaction().await.unwrap();
        transaction.execute(&insert, &[&3_i64]).await.unwrap();
        let refused = store
            .append_in_transaction(&transaction, vec![placed(3)], Some(nothing_in_the_shop()))
            .await;
        assert!(
            matches!(refused, Err(AppendError::ConditionFailed { conflicting }) if conflicting == position),
            "{refused:?}"
        );
        transaction.rollback().await.unwrap();
        assert_eq!((orders(&client, &name).await, events(&store).await), (vec![2], 1));
    });
}

#[test]
fn an_append_on_the_same_boundary_waits_for_the_transaction_and_then_conflicts() {
    runtime(4).block_on(async {
        let Some(schema) = temp_schema(4).await else {
            return;
        };
        let Some(mut client) = raw_client().await else {
            return;
        };
        let store = schema.store.clone();
        let transaction = client.transaction().await.unwrap();
        store
            .append_in_transaction(&transaction, vec![placed(1)], Some(nothing_in_the_shop()))
            .await
            .expect("the append in the transaction");
        let other = store.clone();
        let racing = tokio::spawn(async move {
            other
                .append(vec![placed(2)], Some(nothing_in_the_shop()))
                .await
        });
        // It waits for the transaction's locks: it cannot have finished
        // while the transaction is open, however long it is given.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            !racing.is_finished(),
            "the racing append waited for the transaction"
        );
        transaction.commit().await.unwrap();
        let raced = racing.await.unwrap();
        assert!(
            matches!(raced, Err(AppendError::ConditionFailed { .. })),
            "the racing append sees the committed event: {raced:?}"
        );
        assert_eq!(events(&store).await, 1);
    });
}

#[test]
fn another_isolation_than_read_committed_is_refused() {
    runtime(2).block_on(async {
        let Some(schema) = temp_schema(2).await else {
            return;
        };
        let Some(mut client) = raw_client().await else {
            return;
        };
        let store = schema.store.clone();
        for isolation in [
            tokio_postgres::IsolationLevel::RepeatableRead,
            tokio_postgres::IsolationLevel::Serializable,
        ] {
            let transaction = client
                .build_transaction()
                .isolation_level(isolation)
                .start()
                .await
                .unwrap();
            let refused = store
                .append_in_transaction(&transaction, vec![placed(1)], None)
                .await;
            let message = refused.expect_err("refused").to_string();
            assert!(message.contains("needs READ COMMITTED"), "{message}");
            transaction.commit().await.unwrap();
        }
        assert_eq!(events(&store).await, 0);
    });
}

async fn jit(client: &impl tokio_postgres::GenericClient) -> String {
    client
        .query_one("SELECT current_setting('jit')", &[])
        .await
        .expect("ask the session's jit")
        .get(0)
}

/// The application's session keeps PostgreSQL's default, JIT on, under
/// which the append's statements could be compiled on every call; the
/// append turns it off for the rest of its transaction only.
#[test]
fn an_append_turns_jit_off_for_its_transaction_only() {
    runtime(2).block_on(async {
        let Some(schema) = temp_schema(2).await else {
            return;
        };
        let Some(mut client) = raw_client().await else {
            return;
        };
        client.batch_execute("SET jit = on").await.unwrap();
        let store = schema.store.clone();
        let transaction = client.transaction().await.unwrap();
        assert_eq!(jit(&transaction).await, "on");
        store
            .append_in_transaction(&transaction, vec![placed(1)], Some(nothing_in_the_shop()))
            .await
            .expect("the append");
        assert_eq!(jit(&transaction).await, "off", "within the transaction");
        transaction.commit().await.unwrap();
        assert_eq!(
            jit(&client).await,
            "on",
            "the session's own setting, after it"
        );
        assert_eq!(events(&store).await, 1);
    });
}
