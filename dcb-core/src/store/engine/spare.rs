//! Tables made and freed off the append path.
//!
//! A table that grows moves into fresh memory, and the first touch of each
//! fresh page makes the kernel fault it in and zero it: measured on a
//! growing store of millions of tags, a third of an append's time. So a
//! table orders its next, vacant table from a helper thread a while before
//! it needs it ([`order`]), and the growth that follows finds its pages
//! already touched; the table it leaves is handed back to the helper to
//! free ([`discard`]). One helper thread serves the whole process, started
//! on the first use. Where it cannot be started, tables are made and freed
//! in place, as without it: nothing but the timing depends on the helper.

use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

/// A piece of work for the helper.
type Job = Box<dyn FnOnce() + Send>;

/// The helper's queue, or `None` when its thread could not be started.
fn helper() -> Option<&'static Sender<Job>> {
    static HELPER: OnceLock<Option<Sender<Job>>> = OnceLock::new();
    HELPER
        .get_or_init(|| {
            let (sender, receiver) = mpsc::channel::<Job>();
            thread::Builder::new()
                .name("dcb-tables".to_owned())
                .spawn(move || {
                    for job in receiver {
                        job();
                    }
                })
                .ok()
                .map(|_| sender)
        })
        .as_ref()
}

/// A vacant table of `len` default slots on order from the helper, which
/// puts it in `ready` once it is made.
pub(crate) struct Order<T> {
    len: usize,
    ready: Arc<Mutex<Option<Vec<T>>>>,
}

/// Orders a table of `len` default slots, made and touched by the helper;
/// `None` when there is no helper.
pub(crate) fn order<T: Default + Send + 'static>(len: usize) -> Option<Order<T>> {
    let ready = Arc::new(Mutex::new(None));
    let delivery = Arc::clone(&ready);
    let job: Job = Box::new(move || {
        // Nobody waits for the table once the order is dropped (the table
        // grew without it); then it is not made at all.
        if Arc::strong_count(&delivery) == 1 {
            return;
        }
        let mut table = Vec::with_capacity(len);
        table.resize_with(len, T::default);
        if let Ok(mut slot) = delivery.lock() {
            *slot = Some(table);
        }
    });
    helper()?.send(job).ok()?;
    Some(Order { len, ready })
}

impl<T> Order<T> {
    /// The ordered table if it is ready and has `len` slots; otherwise
    /// `None`, and the order is dropped (the helper frees the table).
    pub(crate) fn take(self, len: usize) -> Option<Vec<T>> {
        if self.len != len {
            return None;
        }
        self.ready.lock().ok()?.take()
    }

    /// Waits until the ordered table is ready (the helper makes every
    /// table it is asked for while the order is held): for tests that need
    /// it to be used.
    #[cfg(test)]
    pub(crate) fn wait(self) -> Order<T> {
        while !self.ready.lock().is_ok_and(|slot| slot.is_some()) {
            thread::yield_now();
        }
        self
    }

    /// Where the ordered table's slots are, once it is ready.
    #[cfg(test)]
    pub(crate) fn table(&self) -> Option<*const T> {
        let slot = self.ready.lock().ok()?;
        slot.as_ref().map(Vec::as_ptr)
    }
}

/// Frees `table` on the helper, or here when there is none.
pub(crate) fn discard<T: Send + 'static>(table: Vec<T>) {
    if let Some(helper) = helper() {
        // A failed send hands the job back, and the table is freed here.
        let _ = helper.send(Box::new(move || drop(table)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_delivers_a_table_of_default_slots() {
        let order = order::<u64>(1000).expect("the helper starts");
        let table = order.wait().take(1000).expect("the table is ready");
        assert_eq!(table.len(), 1000);
        assert!(table.iter().all(|&slot| slot == 0));
    }

    #[test]
    fn an_order_of_another_size_is_not_taken() {
        let order = order::<u64>(64).expect("the helper starts");
        assert!(order.wait().take(128).is_none());
    }
}
