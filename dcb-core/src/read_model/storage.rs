//! Where a read model and its checkpoint are saved: [`Storage`] and the
//! file and in-memory storages.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Position;

/// A read model as saved, with its checkpoint: every matching event up to
/// `checkpoint` is applied to `model`, and no later one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved<M> {
    /// The model.
    pub model: M,
    /// The position it reflects; `None` when no event was applied yet.
    pub checkpoint: Option<Position>,
}

/// Keeps a read model and its checkpoint.
///
/// # Contract
///
/// [`save`](Self::save) is atomic: afterwards [`load`](Self::load) returns
/// either the previous pair or the new one, never the new model with the
/// old checkpoint or the other way round — also when the process dies in
/// the middle of the save. That is what makes a [`Runner`](super::Runner)
/// effectively exactly-once.
pub trait Storage<M>: Send + Sync {
    /// The last saved model and checkpoint, or `None` when nothing was
    /// saved yet.
    fn load(&self) -> impl Future<Output = Result<Option<Saved<M>>, StorageError>> + Send;

    /// Saves `model` as reflecting every matching event up to `checkpoint`,
    /// atomically.
    fn save(
        &self,
        model: &M,
        checkpoint: Position,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// A read model could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StorageError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StorageError {
    /// An error with `message`, saying what failed and what to do.
    pub fn new(message: impl Into<String>) -> StorageError {
        StorageError {
            message: message.into(),
            source: None,
        }
    }

    /// An error with `message` caused by `source`.
    pub fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> StorageError {
        StorageError {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// What the file holds: the format, the checkpoint and the model.
#[derive(Serialize, Deserialize)]
struct FileContents<M> {
    format: String,
    checkpoint: Option<u64>,
    model: M,
}

/// The format tag of [`FileStorage`] files.
const FILE_FORMAT: &str = "dcb-read-model/1";

/// A read model and its checkpoint as one JSON file, replaced atomically on
/// every save (written beside it, flushed to disk, renamed over it, and the
/// directory flushed), so a crash leaves the previous or the new file.
///
/// A save writes the whole model: the [`Runner`](super::Runner) saves
/// after a number of events and whenever it catches up, not after each
/// event. Pairs naturally with the embedded store: keep the file next to
/// the store's directory.
#[derive(Clone, Debug)]
pub struct FileStorage {
    path: PathBuf,
}

impl FileStorage {
    /// A storage in the file at `path`; its directory is created on the
    /// first save.
    pub fn new(path: impl Into<PathBuf>) -> FileStorage {
        FileStorage { path: path.into() }
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl<M: Serialize + DeserializeOwned + Send + Sync> Storage<M> for FileStorage {
    async fn load(&self) -> Result<Option<Saved<M>>, StorageError> {
        let path = self.path.clone();
        let bytes = match blocking(move || std::fs::read(&path)).await? {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StorageError::with_source(
                    format!("cannot read the read model {}", self.path.display()),
                    e,
                ));
            }
        };
        let contents: FileContents<M> = serde_json::from_slice(&bytes).map_err(|e| {
            StorageError::with_source(
                format!(
                    "the read model {} does not hold a model of this type: {e}; \
                     delete the file to rebuild the model from the events",
                    self.path.display()
                ),
                e,
            )
        })?;
        if contents.format != FILE_FORMAT {
            return Err(StorageError::new(format!(
                "the read model {} has format {:?}, not {FILE_FORMAT:?}",
                self.path.display(),
                contents.format
            )));
        }
        Ok(Some(Saved {
            model: contents.model,
            checkpoint: contents.checkpoint.and_then(Position::new),
        }))
    }

    async fn save(&self, model: &M, checkpoint: Position) -> Result<(), StorageError> {
        let contents = FileContents {
            format: FILE_FORMAT.to_owned(),
            checkpoint: Some(checkpoint.get()),
            model,
        };
        let bytes = serde_json::to_vec(&contents).map_err(|e| {
            StorageError::with_source(
                format!("cannot encode the read model {}", self.path.display()),
                e,
            )
        })?;
        let path = self.path.clone();
        blocking(move || replace_file(&path, &bytes))
            .await?
            .map_err(|e| {
                StorageError::with_source(
                    format!(
                        "cannot save the read model {}: {e}; the previous save is intact",
                        self.path.display()
                    ),
                    e,
                )
            })
    }
}

/// Runs blocking file work off the async worker threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::with_source("the file task did not finish", e))
}

/// Numbers the saves of this process, for their temporary files' names.
static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Replaces `path` with `bytes` atomically and durably.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    // A name of this save's own: two runners saving the same file (a
    // mistake, but possible) must not write into one temporary file.
    let save = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{}-{save}.saving", std::process::id()));
    let temporary = dir.join(name);
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    // Makes the rename itself durable.
    std::fs::File::open(dir)?.sync_all()
}

/// Keeps the saved model in memory: nothing survives the process. For
/// tests, and for read models cheap enough to rebuild on every start.
#[derive(Debug)]
pub struct MemoryStorage<M> {
    saved: Arc<Mutex<Option<Saved<M>>>>,
}

impl<M> Clone for MemoryStorage<M> {
    fn clone(&self) -> Self {
        MemoryStorage {
            saved: Arc::clone(&self.saved),
        }
    }
}

impl<M> Default for MemoryStorage<M> {
    fn default() -> Self {
        MemoryStorage {
            saved: Arc::default(),
        }
    }
}

impl<M> MemoryStorage<M> {
    /// An empty storage.
    #[must_use]
    pub fn new() -> MemoryStorage<M> {
        MemoryStorage::default()
    }
}

impl<M: Clone + Send + Sync> Storage<M> for MemoryStorage<M> {
    async fn load(&self) -> Result<Option<Saved<M>>, StorageError> {
        Ok(self.saved.lock().clone())
    }

    async fn save(&self, model: &M, checkpoint: Position) -> Result<(), StorageError> {
        *self.saved.lock() = Some(Saved {
            model: model.clone(),
            checkpoint: Some(checkpoint),
        });
        Ok(())
    }
}
