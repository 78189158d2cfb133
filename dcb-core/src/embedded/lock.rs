//! One process at a time: an exclusive lock on the directory's `LOCK` file.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use super::OpenError;

/// Takes the store's lock, waiting up to `timeout` for another process to
/// release it. The lock is held as long as the returned file is open, and
/// the operating system releases it if the process dies.
pub(super) fn acquire(dir: &Path, timeout: Duration) -> Result<File, OpenError> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| OpenError::io(&path, e))?;
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if start.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(OpenError::Locked {
                    dir: dir.to_owned(),
                    waited: start.elapsed(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(OpenError::io(&path, e)),
        }
    }
}
