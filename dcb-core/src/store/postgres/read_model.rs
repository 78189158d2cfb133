//! [`PostgresStorage`]: read models saved in the store's own schema.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::PostgresStore;
use super::error::describe;
use super::migrate::{quote, render};
use crate::Position;
use crate::read_model::{EventFingerprint, Saved, SavedWithFingerprint, Storage, StorageError};

/// Saves a read model and its checkpoint as one row of the table
/// `dcb_read_models` in the store's schema: the model as `jsonb`, written
/// with its checkpoint and the [`EventFingerprint`] of the event there (as
/// `jsonb`, when the runner gives one) by a single `INSERT … ON CONFLICT DO
/// UPDATE`, so they are replaced atomically. A runner started on a store
/// that holds another event at the checkpoint then reports a
/// [`Mismatch`](crate::read_model::Mismatch), as with the other storages.
///
/// Several read models share the table, one row each, told apart by name.
///
/// ```no_run
/// # use dcb_core::postgres::{PostgresStore, PostgresStorage};
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/test").await?;
/// let storage = PostgresStorage::new(&store, "course-lists")?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PostgresStorage {
    store: PostgresStore,
    name: String,
    load: String,
    save: String,
}

/// The longest read-model name [`PostgresStorage`] accepts, in bytes.
pub const MAX_READ_MODEL_NAME: usize = 200;

impl PostgresStorage {
    /// The storage of the read model called `name` in `store`'s schema.
    ///
    /// # Errors
    ///
    /// A [`StorageError`] when `name` is empty, longer than
    /// [`MAX_READ_MODEL_NAME`] bytes or has control characters.
    pub fn new(
        store: &PostgresStore,
        name: impl Into<String>,
    ) -> Result<PostgresStorage, StorageError> {
        let name = name.into();
        if name.is_empty() || name.len() > MAX_READ_MODEL_NAME || name.chars().any(char::is_control)
        {
            return Err(StorageError::new(format!(
                "invalid read model name {name:?}: use 1 to {MAX_READ_MODEL_NAME} bytes without control characters"
            )));
        }
        let schema = store.schema();
        Ok(PostgresStorage {
            store: store.clone(),
            name,
            load: render(
                "SELECT checkpoint, model::text, checkpoint_event::text \
                 FROM __SCHEMA__.dcb_read_models WHERE name = $1",
                schema,
            ),
            // A save without a fingerprint clears the one saved before,
            // which was of the event at another checkpoint.
            save: render(
                "INSERT INTO __SCHEMA__.dcb_read_models (name, checkpoint, model, checkpoint_event, saved_at)
                 VALUES ($1, $2, $3::text::jsonb, $4::text::jsonb, now())
                 ON CONFLICT (name) DO UPDATE
                 SET checkpoint = excluded.checkpoint, model = excluded.model,
                     checkpoint_event = excluded.checkpoint_event, saved_at = excluded.saved_at",
                schema,
            ),
        })
    }

    /// The read model's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    fn failed(
        &self,
        what: &str,
        e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> StorageError {
        let e = e.into();
        StorageError::with_source(
            format!(
                "cannot {what} the read model {:?} in PostgreSQL: {}",
                self.name,
                describe(&*e)
            ),
            e,
        )
    }

    async fn load_row<M: DeserializeOwned>(
        &self,
    ) -> Result<Option<SavedWithFingerprint<M>>, StorageError> {
        let client = self
            .store
            .pool()
            .get()
            .await
            .map_err(|e| self.failed("load", e))?;
        let load = client
            .prepare_cached(&self.load)
            .await
            .map_err(|e| self.failed("load", e))?;
        let row = client
            .query_opt(&load, &[&self.name])
            .await
            .map_err(|e| self.failed("load", e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let checkpoint: i64 = row.get(0);
        let model: String = row.get(1);
        let fingerprint: Option<String> = row.get(2);
        let undecodable = |e| {
            self.failed(
                "decode (delete its row from dcb_read_models to rebuild it from the events)",
                e,
            )
        };
        let model = serde_json::from_str(&model).map_err(undecodable)?;
        let fingerprint = fingerprint
            .map(|fingerprint| serde_json::from_str::<EventFingerprint>(&fingerprint))
            .transpose()
            .map_err(undecodable)?;
        Ok(Some(SavedWithFingerprint {
            saved: Saved {
                model,
                checkpoint: u64::try_from(checkpoint).ok().and_then(Position::new),
            },
            fingerprint,
        }))
    }

    async fn save_row<M: Serialize + Sync>(
        &self,
        model: &M,
        checkpoint: Position,
        fingerprint: Option<&EventFingerprint>,
    ) -> Result<(), StorageError> {
        let model = serde_json::to_string(model).map_err(|e| self.failed("encode", e))?;
        let fingerprint = fingerprint
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| self.failed("encode", e))?;
        let checkpoint = i64::try_from(checkpoint.get()).map_err(|e| self.failed("save", e))?;
        let client = self
            .store
            .pool()
            .get()
            .await
            .map_err(|e| self.failed("save", e))?;
        // Prepared once per connection: a runner saves whenever it catches
        // up, so often under a steady trickle of events.
        let save = client
            .prepare_cached(&self.save)
            .await
            .map_err(|e| self.failed("save", e))?;
        client
            .execute(&save, &[&self.name, &checkpoint, &model, &fingerprint])
            .await
            .map_err(|e| self.failed("save", e))?;
        Ok(())
    }
}

impl<M: Serialize + DeserializeOwned + Send + Sync> Storage<M> for PostgresStorage {
    async fn load(&self) -> Result<Option<Saved<M>>, StorageError> {
        Ok(self.load_row().await?.map(|row| row.saved))
    }

    async fn save(&self, model: &M, checkpoint: Position) -> Result<(), StorageError> {
        self.save_row(model, checkpoint, None).await
    }

    async fn load_with_fingerprint(&self) -> Result<Option<SavedWithFingerprint<M>>, StorageError> {
        self.load_row().await
    }

    async fn save_with_fingerprint(
        &self,
        model: &M,
        checkpoint: Position,
        fingerprint: &EventFingerprint,
    ) -> Result<(), StorageError> {
        self.save_row(model, checkpoint, Some(fingerprint)).await
    }

    /// The row: `"course-lists" (row of "dcb".dcb_read_models)`.
    fn location(&self) -> Option<String> {
        Some(format!(
            "{:?} (row of {}.dcb_read_models)",
            self.name,
            quote(self.store.schema())
        ))
    }
}
