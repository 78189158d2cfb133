//! One write to the index: its entries, sorted into one run and ingested
//! into the keyspace as tables of their own, past fjall's journal and
//! write buffer. The store's log is the index's journal: an ingested run
//! reaches the disk whole (its tables and the version that lists them are
//! synced) or not at all, and a run lost in a crash is rebuilt from the
//! log on the next open.

use fjall::{Keyspace, Slice};

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

    /// Sorts the entries and ingests them into `tree` as one run; readers
    /// see the whole run once this returns, and none of it before.
    pub(super) fn ingest(mut self, tree: &Keyspace) -> Result<(), fjall::Error> {
        // Stable: of two puts of one key, the later stays last.
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut ingestion = tree.start_ingestion()?;
        let mut entries = self.entries.into_iter().peekable();
        while let Some((key, value)) = entries.next() {
            // Ingestion takes each key once, in ascending order.
            if entries.peek().is_some_and(|(next, _)| *next == key) {
                continue;
            }
            ingestion.write(key, value)?;
        }
        ingestion.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_keeps_the_last_put_of_a_key_and_reads_back_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let tree = db
            .keyspace("index", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        let mut run = Run::default();
        run.put(b"b", b"1");
        run.put(b"a", b"2");
        run.put(b"b", b"3");
        run.ingest(&tree).unwrap();
        let read: Vec<(Vec<u8>, Vec<u8>)> = tree
            .iter()
            .map(|guard| {
                let (key, value) = guard.into_inner().unwrap();
                (key.to_vec(), value.to_vec())
            })
            .collect();
        assert_eq!(
            read,
            [
                (b"a".to_vec(), b"2".to_vec()),
                (b"b".to_vec(), b"3".to_vec())
            ]
        );
    }
}
