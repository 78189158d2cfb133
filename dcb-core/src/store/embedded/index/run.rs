//! One write to the index: its entries, sorted into one run and ingested
//! into the sections' keyspaces as tables of their own, past fjall's
//! journal and write buffer. The store's log is the index's journal: each
//! section's part of a run reaches the disk whole (its tables and the
//! version that lists them are synced) or not at all, `meta`'s last, and
//! a run lost in a crash is rebuilt from the log on the next open (see
//! [`sections`](super::sections)).

use fjall::Slice;

use super::sections::Sections;

/// The entries of one write, in the order they were put.
#[derive(Default)]
pub(super) struct Run {
    entries: Vec<(Slice, Slice)>,
}

impl Run {
    /// Adds `key` → `value`; a later put of the same key wins.
    pub(super) fn put(&mut self, key: impl AsRef<[u8]>, value: &[u8]) {
        self.entries
            .push((Slice::from(key.as_ref()), Slice::from(value)));
    }

    /// Sorts the entries and ingests them into `sections` as one run,
    /// section by section, `meta` last.
    pub(super) fn ingest(mut self, sections: &Sections) -> Result<(), fjall::Error> {
        // Stable: of two puts of one key, the later stays last.
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut entries = self.entries.into_iter().peekable();
        // Ingestion takes each key once, in ascending order.
        let last_of_each = std::iter::from_fn(|| {
            loop {
                let (key, value) = entries.next()?;
                if entries.peek().is_none_or(|(next, _)| *next != key) {
                    return Some((key, value));
                }
            }
        });
        sections.ingest(last_of_each)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_keeps_the_last_put_of_a_key_and_reads_back_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let sections = Sections::open(&db).unwrap();
        let mut run = Run::default();
        run.put(b"mb", b"1");
        run.put(b"ma", b"2");
        run.put(b"mb", b"3");
        run.ingest(&sections).unwrap();
        let read: Vec<(Vec<u8>, Vec<u8>)> = sections
            .prefix(b"m")
            .map(|guard| {
                let (key, value) = guard.into_inner().unwrap();
                (key.to_vec(), value.to_vec())
            })
            .collect();
        assert_eq!(
            read,
            [
                (b"ma".to_vec(), b"2".to_vec()),
                (b"mb".to_vec(), b"3".to_vec())
            ]
        );
    }
}
