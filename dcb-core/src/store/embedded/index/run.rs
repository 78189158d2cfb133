//! One write to the index: its entries, sorted into one run and ingested
//! into the sections' keyspaces as tables of their own, past fjall's
//! journal and write buffer. The store's log is the index's journal: each
//! section's part of a run reaches the disk whole (its tables and the
//! version that lists them are synced) or not at all, `meta`'s last, and
//! a run lost in a crash is rebuilt from the log on the next open (see
//! [`sections`](super::sections)).

use fjall::Slice;

use super::sections::{self, Sections};

/// The entries of one write, by section, in the order they were put.
#[derive(Default)]
pub(super) struct Run {
    by_section: [Vec<(Slice, Slice)>; sections::COUNT],
}

impl Run {
    /// Adds `key` → `value`; a later put of the same key wins.
    pub(super) fn put(&mut self, key: impl AsRef<[u8]>, value: &[u8]) {
        let key = key.as_ref();
        self.by_section[sections::index_of(key)].push((Slice::from(key), Slice::from(value)));
    }

    /// Sorts each section's entries and ingests them into `sections` as
    /// one run, section by section, `meta` last. A section whose entries
    /// were put in order (`events`, by position; `postings` and `tags`,
    /// which the index puts in key order) is not sorted again.
    pub(super) fn ingest(self, sections: &Sections) -> Result<(), fjall::Error> {
        sections.ingest(self.by_section.map(|mut entries| {
            if !entries.is_sorted_by(|a, b| a.0 <= b.0) {
                // Stable: of two puts of one key, the later stays last.
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            // Ingestion takes each key once, in ascending order.
            let mut last_of_each: Vec<(Slice, Slice)> = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                match last_of_each.last_mut() {
                    Some(last) if last.0 == key => *last = (key, value),
                    _ => last_of_each.push((key, value)),
                }
            }
            last_of_each
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each section's entries read back sorted, each key with its last
    /// value: sections put out of order, in order, and in order but for a
    /// later put of an earlier key.
    #[test]
    fn a_run_keeps_the_last_put_of_a_key_and_reads_back_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let sections = Sections::open(&db).unwrap();
        let mut run = Run::default();
        let puts: [(&[u8], &[u8]); 9] = [
            (b"mb", b"1"),
            (b"ma", b"2"),
            (b"mb", b"3"),
            (b"e1", b"4"),
            (b"e2", b"5"),
            (b"e2", b"6"),
            (b"y1", b"7"),
            (b"y2", b"8"),
            (b"y1", b"9"),
        ];
        for (key, value) in puts {
            run.put(key, value);
        }
        run.ingest(&sections).unwrap();
        let read = |prefix: &[u8]| -> Vec<(Vec<u8>, Vec<u8>)> {
            sections
                .prefix(prefix)
                .map(|guard| {
                    let (key, value) = guard.into_inner().unwrap();
                    (key.to_vec(), value.to_vec())
                })
                .collect()
        };
        let pairs = |expected: &[(&[u8], &[u8])]| -> Vec<(Vec<u8>, Vec<u8>)> {
            expected
                .iter()
                .map(|&(key, value)| (key.to_vec(), value.to_vec()))
                .collect()
        };
        assert_eq!(read(b"m"), pairs(&[(b"ma", b"2"), (b"mb", b"3")]));
        assert_eq!(read(b"e"), pairs(&[(b"e1", b"4"), (b"e2", b"6")]));
        assert_eq!(read(b"y"), pairs(&[(b"y1", b"9"), (b"y2", b"8")]));
    }
}
