//! [`PostgresStorage`]: read models saved in the store's own schema.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::PostgresStore;
use super::error::describe;
use super::migrate::render;
use crate::Position;
use crate::read_model::{Saved, Storage, StorageError};

/// Saves a read model and its checkpoint as one row of the table
/// `dcb_read_models` in the store's schema: the model as `jsonb`, written
/// with its checkpoint by a single `INSERT … ON CONFLICT DO UPDATE`, so the
/// pair is replaced atomically.
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
                "SELECT checkpoint, model::text FROM __SCHEMA__.dcb_read_models WHERE name = $1",
                schema,
            ),
            save: render(
                "INSERT INTO __SCHEMA__.dcb_read_models (name, checkpoint, model, saved_at)
                 VALUES ($1, $2, $3::text::jsonb, now())
                 ON CONFLICT (name) DO UPDATE
                 SET checkpoint = excluded.checkpoint, model = excluded.model, saved_at = excluded.saved_at",
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
}

impl<M: Serialize + DeserializeOwned + Send + Sync> Storage<M> for PostgresStorage {
    async fn load(&self) -> Result<Option<Saved<M>>, StorageError> {
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
        let model = serde_json::from_str(&model).map_err(|e| {
            self.failed(
                "decode (delete its row from dcb_read_models to rebuild it from the events)",
                e,
            )
        })?;
        Ok(Some(Saved {
            model,
            checkpoint: u64::try_from(checkpoint).ok().and_then(Position::new),
        }))
    }

    async fn save(&self, model: &M, checkpoint: Position) -> Result<(), StorageError> {
        let model = serde_json::to_string(model).map_err(|e| self.failed("encode", e))?;
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
            .execute(&save, &[&self.name, &checkpoint, &model])
            .await
            .map_err(|e| self.failed("save", e))?;
        Ok(())
    }
}
