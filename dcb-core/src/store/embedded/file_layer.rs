//! The file operations of the log's append path, behind a trait so that
//! tests can run the store over files that fail, lie and tear
//! (`faults/`), while the store itself runs on [`Disk`]: plain
//! `std::fs`, statically dispatched, so the trait costs nothing there.
//!
//! The trait covers what an append can do to the files: write the active
//! segment (its records, and the zeros written ahead of them) and sync it,
//! cut it back after a failed write or to its records, look at its length,
//! create the next segment (and remove it if that fails), and replace the
//! manifest. Recovery on open reads and repairs files with
//! `std::fs` directly: it runs before any append and is tested on the
//! files a crash leaves behind.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Where the log's files live: the real file system, or a test's.
pub(super) trait FileLayer: Clone + Send + 'static {
    /// An open segment file.
    type File: SegmentFile;

    /// Creates the file at `path` for writing; fails if it exists.
    fn create_new(&self, path: &Path) -> io::Result<Self::File>;

    /// Opens the existing file at `path` for writing.
    fn open_write(&self, path: &Path) -> io::Result<Self::File>;

    /// Removes the file at `path`.
    fn remove_file(&self, path: &Path) -> io::Result<()>;

    /// Makes the entries of the directory `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Replaces the file at `path` with `contents` atomically and durably:
    /// after `Ok`, `path` holds `contents` across a crash; after an error,
    /// it holds the old contents or the new ones.
    fn replace(&self, path: &Path, temporary: &Path, contents: &[u8]) -> io::Result<()>;

    /// Called by the writer when an append has come, before it takes the
    /// others waiting into one batch: a test's layer may hold it there
    /// while more appends come, so that batches are the same on every run.
    #[inline]
    fn batch_starts(&self) {}
}

/// A segment file open for writing.
pub(super) trait SegmentFile: Send {
    /// Writes all of `bytes` at `offset`, extending the file if they go
    /// past its end; on an error, some of them may be written.
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()>;

    /// Makes the file's data durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;

    /// Makes the file's data and metadata durable (`fsync`).
    fn sync_all(&mut self) -> io::Result<()>;

    /// Cuts the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;

    /// The file's length, without looking at its times (see [`len_of`]).
    fn len(&self) -> io::Result<u64>;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Disk;

impl FileLayer for Disk {
    type File = File;

    fn create_new(&self, path: &Path) -> io::Result<File> {
        OpenOptions::new().write(true).create_new(true).open(path)
    }

    fn open_write(&self, path: &Path) -> io::Result<File> {
        // Not `append`: records go where the log's records end, which is
        // before the file's end while zeros are written ahead of them.
        OpenOptions::new().write(true).open(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn replace(&self, path: &Path, temporary: &Path, contents: &[u8]) -> io::Result<()> {
        let mut file = File::create(temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        fs::rename(temporary, path)?;
        match path.parent() {
            Some(dir) => self.sync_dir(dir),
            None => Ok(()),
        }
    }
}

impl SegmentFile for File {
    #[inline]
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        FileExt::write_all_at(self, bytes, offset)
    }

    #[inline]
    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }

    #[inline]
    fn sync_all(&mut self) -> io::Result<()> {
        File::sync_all(self)
    }

    #[inline]
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }

    #[inline]
    fn len(&self) -> io::Result<u64> {
        len_of(self)
    }
}

/// The length of a segment a writer may be appending to, by `lseek` to its
/// end, not `fstat`: Linux (6.13 on) notes that a file's times were looked
/// at (`fstat` returns them), and the next write then updates them at a
/// fine grain; that write's `fdatasync` was measured as slow as a sync that
/// changes the size, undoing what the zeros written ahead save (decision
/// 0025).
pub(super) fn len_of(file: &File) -> io::Result<u64> {
    let mut file = file;
    io::Seek::seek(&mut file, io::SeekFrom::End(0))
}
