//! Taking the state's lock after spinning a moment on it.
//!
//! The engine's lock is usually held for a few microseconds (an append's
//! check and push, a read's look-up of its candidates). A thread that
//! finds it taken and parks at once pays a sleep and a wake-up, each a
//! system call and a switch of threads, several times what the holder
//! still needs; `parking_lot` spins only briefly before it parks. So a
//! thread first retries for about as long as the lock is held, then
//! blocks as before.

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// How many times to retry before blocking: about 64 pauses, a few
/// microseconds.
const SPINS: u32 = 64;

/// `lock` taken for reading.
pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    retry_then(|| lock.try_read(), || lock.read())
}

/// `lock` taken for writing.
pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    retry_then(|| lock.try_write(), || lock.write())
}

/// `try_take` retried [`SPINS`] times, a pause between tries, then `take`.
fn retry_then<G>(try_take: impl Fn() -> Option<G>, take: impl FnOnce() -> G) -> G {
    for _ in 0..SPINS {
        if let Some(guard) = try_take() {
            return guard;
        }
        std::hint::spin_loop();
    }
    take()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use parking_lot::RwLock;

    use super::{read, write};

    #[test]
    fn a_free_lock_is_taken_at_once() {
        let lock = RwLock::new(1);
        *write(&lock) += 1;
        assert_eq!(*read(&lock), 2);
    }

    /// Past its spins a writer blocks until the reader is done, and the
    /// reader's change is what it finds.
    #[test]
    fn a_writer_waits_for_a_reader_held_past_its_spins() {
        let lock = Arc::new(RwLock::new(0));
        let released = Arc::new(AtomicBool::new(false));
        let guard = lock.read();
        let writer = {
            let (lock, released) = (Arc::clone(&lock), Arc::clone(&released));
            std::thread::spawn(move || {
                let mut value = write(&lock);
                assert!(released.load(Ordering::SeqCst), "the writer did not wait");
                *value += 1;
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        released.store(true, Ordering::SeqCst);
        drop(guard);
        writer.join().expect("the writer");
        assert_eq!(*read(&lock), 1);
    }

    /// Past its spins a reader blocks until the writer is done.
    #[test]
    fn a_reader_waits_for_a_writer_held_past_its_spins() {
        let lock = Arc::new(RwLock::new(0));
        let mut guard = lock.write();
        let reader = {
            let lock = Arc::clone(&lock);
            std::thread::spawn(move || *read(&lock))
        };
        std::thread::sleep(Duration::from_millis(50));
        *guard = 7;
        drop(guard);
        assert_eq!(reader.join().expect("the reader"), 7);
    }
}
