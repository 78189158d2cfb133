//! Where a read model and its checkpoint are saved: [`Storage`] and the
//! file and in-memory storages.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::EventFingerprint;
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

/// A saved read model with the fingerprint of the event at its checkpoint,
/// as [`Storage::load_with_fingerprint`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedWithFingerprint<M> {
    /// The model and its checkpoint.
    pub saved: Saved<M>,
    /// The event at the checkpoint when the model was saved; `None` when
    /// the save did not keep it.
    pub fingerprint: Option<EventFingerprint>,
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
///
/// A storage may also keep the [`EventFingerprint`] of the event at the
/// checkpoint, in the same atomic save, by implementing
/// [`save_with_fingerprint`](Self::save_with_fingerprint) and
/// [`load_with_fingerprint`](Self::load_with_fingerprint). The runner then
/// notices on start when the store holds another event at the checkpoint
/// than the one the model was built up to. Without them it can only
/// notice a checkpoint beyond the store's head.
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

    /// As [`load`](Self::load), with the fingerprint saved by
    /// [`save_with_fingerprint`](Self::save_with_fingerprint) if the last
    /// save kept one (a save by [`save`](Self::save) keeps none).
    ///
    /// The default loads with [`load`](Self::load) and has no fingerprint.
    fn load_with_fingerprint(
        &self,
    ) -> impl Future<Output = Result<Option<SavedWithFingerprint<M>>, StorageError>> + Send {
        async move {
            let saved = self.load().await?;
            Ok(saved.map(|saved| SavedWithFingerprint {
                saved,
                fingerprint: None,
            }))
        }
    }

    /// As [`save`](Self::save), also keeping `fingerprint`, the fingerprint
    /// of the event at `checkpoint`, in the same atomic save.
    ///
    /// The default saves with [`save`](Self::save) and drops the
    /// fingerprint.
    fn save_with_fingerprint(
        &self,
        model: &M,
        checkpoint: Position,
        fingerprint: &EventFingerprint,
    ) -> impl Future<Output = Result<(), StorageError>> + Send {
        let _ = fingerprint;
        self.save(model, checkpoint)
    }

    /// Where the model is kept, for messages that tell what to delete to
    /// rebuild it: a file's path, a table's row. `None` by default.
    fn location(&self) -> Option<String> {
        None
    }
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
    /// The event at the checkpoint; absent in files saved before
    /// fingerprints were kept, which still load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checkpoint_event: Option<EventFingerprint>,
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
///
/// The temporary file of a save is the file's name followed by
/// `.PID-N.saving` (`counts.json.4242-0.saving`), locked while the save
/// writes it. A process killed in the middle of a save leaves it behind;
/// the next [`load`](Storage::load) removes such leftovers — files of
/// exactly that name pattern that no live save holds locked.
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

    async fn load_contents<M: DeserializeOwned>(
        &self,
    ) -> Result<Option<SavedWithFingerprint<M>>, StorageError> {
        let path = self.path.clone();
        blocking(&self.path, move || remove_leftovers(&path)).await??;
        let path = self.path.clone();
        let bytes = match blocking(&self.path, move || std::fs::read(&path)).await? {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StorageError::with_source(
                    format!(
                        "cannot read the read model {}: {e}; check the file and its \
                         permissions (deleting it rebuilds the model from the events)",
                        self.path.display()
                    ),
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
                "the read model {} has format {:?}, not {FILE_FORMAT:?}; \
                 delete the file to rebuild the model from the events",
                self.path.display(),
                contents.format
            )));
        }
        let saved = Saved {
            model: contents.model,
            checkpoint: contents.checkpoint.and_then(Position::new),
        };
        Ok(Some(SavedWithFingerprint {
            saved,
            fingerprint: contents.checkpoint_event,
        }))
    }

    async fn save_contents<M: Serialize + Sync>(
        &self,
        model: &M,
        checkpoint: Position,
        fingerprint: Option<&EventFingerprint>,
    ) -> Result<(), StorageError> {
        let contents = FileContents {
            format: FILE_FORMAT.to_owned(),
            checkpoint: Some(checkpoint.get()),
            checkpoint_event: fingerprint.cloned(),
            model,
        };
        let bytes = serde_json::to_vec(&contents).map_err(|e| {
            StorageError::with_source(
                format!(
                    "cannot encode the read model {}: {e}; the model's Serialize \
                     implementation failed, and the previous save is intact",
                    self.path.display()
                ),
                e,
            )
        })?;
        let path = self.path.clone();
        blocking(&self.path, move || replace_file(&path, &bytes))
            .await?
            .map_err(|e| {
                StorageError::with_source(
                    format!(
                        "cannot save the read model {}: {e}; the previous save is intact \
                         (check the directory's permissions and free space)",
                        self.path.display()
                    ),
                    e,
                )
            })
    }
}

impl<M: Serialize + DeserializeOwned + Send + Sync> Storage<M> for FileStorage {
    async fn load(&self) -> Result<Option<Saved<M>>, StorageError> {
        Ok(self.load_contents().await?.map(|loaded| loaded.saved))
    }

    async fn save(&self, model: &M, checkpoint: Position) -> Result<(), StorageError> {
        self.save_contents(model, checkpoint, None).await
    }

    async fn load_with_fingerprint(&self) -> Result<Option<SavedWithFingerprint<M>>, StorageError> {
        self.load_contents().await
    }

    async fn save_with_fingerprint(
        &self,
        model: &M,
        checkpoint: Position,
        fingerprint: &EventFingerprint,
    ) -> Result<(), StorageError> {
        self.save_contents(model, checkpoint, Some(fingerprint))
            .await
    }

    fn location(&self) -> Option<String> {
        Some(self.path.display().to_string())
    }
}

/// Runs blocking file work for the read model at `path` off the async
/// worker threads.
async fn blocking<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        StorageError::with_source(
            format!(
                "the file task of the read model {} did not finish: {e}",
                path.display()
            ),
            e,
        )
    })
}

/// Numbers the saves of this process, for their temporary files' names.
static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The suffix of a save's temporary file, after `.PID-N`.
const SAVING: &str = ".saving";

/// The directory `path` is in.
fn directory(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Replaces `path` with `bytes` atomically and durably.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = directory(path);
    std::fs::create_dir_all(dir)?;
    // A name of this save's own: two runners saving the same file (a
    // mistake, but possible) must not write into one temporary file.
    let (temporary, mut file) = loop {
        let save = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut name = path.file_name().unwrap_or_default().to_owned();
        name.push(format!(".{}-{save}{SAVING}", std::process::id()));
        let temporary = dir.join(name);
        let file = std::fs::File::create(&temporary)?;
        // Held until the rename: it tells `remove_leftovers` in another
        // process that this save is alive.
        file.lock()?;
        // `remove_leftovers` may have removed the file between its creation
        // and the lock: then the lock protects nothing, and the save starts
        // over under a new name.
        if still_at(&file, &temporary)? {
            break (temporary, file);
        }
    };
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    drop(file);
    // Makes the rename itself durable.
    std::fs::File::open(dir)?.sync_all()
}

/// Whether `path` still names the open `file`.
#[cfg(unix)]
fn still_at(file: &std::fs::File, path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(found) => Ok(found.dev() == held.dev() && found.ino() == held.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether `path` still names the open `file` (on other systems, an open
/// file cannot be removed, so it does).
#[cfg(not(unix))]
fn still_at(_file: &std::fs::File, _path: &Path) -> std::io::Result<bool> {
    Ok(true)
}

/// Whether `name` is that of a temporary file of a save of the file
/// called `file_name`: `FILE_NAME.PID-N.saving`.
fn is_temporary(name: &std::ffi::OsStr, file_name: &std::ffi::OsStr) -> bool {
    let (Some(name), Some(file_name)) = (name.to_str(), file_name.to_str()) else {
        return false;
    };
    let Some(rest) = name
        .strip_prefix(file_name)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(SAVING))
    else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    rest.split_once('-')
        .is_some_and(|(pid, save)| digits(pid) && digits(save))
}

/// Removes the temporary files that saves of `path` killed mid-way left
/// behind — each as big as the model. A temporary file locked by a save
/// still running is left alone.
fn remove_leftovers(path: &Path) -> Result<(), StorageError> {
    let Some(file_name) = path.file_name() else {
        return Ok(());
    };
    let dir = directory(path);
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(StorageError::with_source(
                format!(
                    "cannot list {}, the directory of the read model {}, for files left \
                     over by interrupted saves: {e}; check the directory's permissions",
                    dir.display(),
                    path.display()
                ),
                e,
            ));
        }
    };
    let cannot_remove = |temporary: &Path, e: std::io::Error| {
        StorageError::with_source(
            format!(
                "cannot remove {}, left over by an interrupted save of the read model {}: \
                 {e}; remove it by hand",
                temporary.display(),
                path.display()
            ),
            e,
        )
    };
    for entry in entries {
        let entry = entry.map_err(|e| {
            StorageError::with_source(
                format!(
                    "cannot list {}, the directory of the read model {}: {e}",
                    dir.display(),
                    path.display()
                ),
                e,
            )
        })?;
        if !is_temporary(&entry.file_name(), file_name) {
            continue;
        }
        let temporary = entry.path();
        let file = match std::fs::File::open(&temporary) {
            Ok(file) => file,
            // Renamed or removed by its save meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(cannot_remove(&temporary, e)),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(e)) => return Err(cannot_remove(&temporary, e)),
        }
        // Unlocked: its save is gone (or has not locked it yet, and will
        // find it removed and start over).
        match std::fs::remove_file(&temporary) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(cannot_remove(&temporary, e)),
        }
    }
    Ok(())
}

/// Keeps the saved model in memory: nothing survives the process. For
/// tests, and for read models cheap enough to rebuild on every start.
#[derive(Debug)]
pub struct MemoryStorage<M> {
    saved: Arc<Mutex<Option<SavedWithFingerprint<M>>>>,
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
        Ok(self
            .saved
            .lock()
            .as_ref()
            .map(|loaded| loaded.saved.clone()))
    }

    async fn save(&self, model: &M, checkpoint: Position) -> Result<(), StorageError> {
        self.keep(model, checkpoint, None);
        Ok(())
    }

    async fn load_with_fingerprint(&self) -> Result<Option<SavedWithFingerprint<M>>, StorageError> {
        Ok(self.saved.lock().clone())
    }

    async fn save_with_fingerprint(
        &self,
        model: &M,
        checkpoint: Position,
        fingerprint: &EventFingerprint,
    ) -> Result<(), StorageError> {
        self.keep(model, checkpoint, Some(fingerprint.clone()));
        Ok(())
    }
}

impl<M: Clone> MemoryStorage<M> {
    fn keep(&self, model: &M, checkpoint: Position, fingerprint: Option<EventFingerprint>) {
        let saved = Saved {
            model: model.clone(),
            checkpoint: Some(checkpoint),
        };
        *self.saved.lock() = Some(SavedWithFingerprint { saved, fingerprint });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary file removed between its creation and its lock is no
    /// longer the file at its path: the save must start over, or its lock
    /// would protect nothing.
    #[test]
    fn a_removed_temporary_file_is_not_still_at_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json.1-0.saving");
        let file = std::fs::File::create(&path).unwrap();
        assert!(still_at(&file, &path).unwrap());
        std::fs::remove_file(&path).unwrap();
        assert!(!still_at(&file, &path).unwrap());
        std::fs::File::create(&path).unwrap();
        assert!(!still_at(&file, &path).unwrap(), "another file at the path");
    }
}
