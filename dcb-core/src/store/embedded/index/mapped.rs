//! A segment's bytes mapped into memory, so that reading an indexed event
//! costs a copy, not a system call (docs/decisions/0029-segments-mapped.md).
//!
//! A decision's read takes its events from the log one by one, wherever
//! they lie; with `pread` each costs a system call (about 1.2 µs on the
//! benchmarks' VM, nearly all of it the kernel's page-cache lookup), with
//! the segment mapped a page fault at most, and the kernel maps the
//! neighbouring pages on the same fault.
//!
//! # Why the mapping is sound
//!
//! Reading a mapping is only sound while the file under it keeps the bytes
//! read, and raises `SIGBUS` where the file has been cut short. This
//! store's log:
//! - writes a segment only past its last record, so bytes once read never
//!   change;
//! - cuts a segment short (`set_len`) only past its last record: the zeros
//!   it wrote ahead, or a batch whose write failed, which nothing indexed;
//! - deletes no segment while the store is open.
//!
//! A read copies the bytes of indexed events only, which lie before their
//! segment's last record, so inside the file however the log cuts it, and
//! it copies them out before the mapping can be replaced (under its lock).
//! The mapping covers the file as long as it was when mapped; a read past
//! it maps the file again, as the active segment grows.
//!
//! What no store can rule out is another program cutting a segment short
//! while the store has it open: the process then dies of `SIGBUS` on the
//! next read there, as with LMDB, or `SQLite`'s memory-mapped reads. The
//! store's docs say so ("The store's files", in `store/embedded/mod.rs`).
//!
//! On platforms other than Unix each read is a system call: Windows
//! refuses to cut a file short while it is mapped, which the log does as it
//! starts a segment and as it closes.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;

#[cfg(unix)]
use parking_lot::RwLock;

/// A segment file, read through a mapping of it where the platform allows.
pub(super) struct Mapped {
    file: File,
    /// The file's bytes as long as it was when mapped; `None` before the
    /// first read (and for an empty file).
    #[cfg(unix)]
    map: RwLock<Option<memmap2::Mmap>>,
}

impl Mapped {
    /// The segment `file`, mapped on its first read.
    pub(super) fn new(file: File) -> Mapped {
        Mapped {
            file,
            #[cfg(unix)]
            map: RwLock::new(None),
        }
    }

    /// Fills `buf` with the file's bytes at `offset`; an error of kind
    /// `UnexpectedEof` if the file ends before them.
    #[cfg(unix)]
    pub(super) fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if self.copy(buf, offset) {
            return Ok(());
        }
        // Past the mapping: the file may have grown since it was mapped.
        self.map_again()?;
        if self.copy(buf, offset) {
            Ok(())
        } else {
            Err(io::ErrorKind::UnexpectedEof.into())
        }
    }

    /// Copies the mapped bytes at `offset` into `buf`, if the mapping holds
    /// them all.
    #[cfg(unix)]
    fn copy(&self, buf: &mut [u8], offset: u64) -> bool {
        let map = self.map.read();
        let bytes = usize::try_from(offset).ok().and_then(|start| {
            let end = start.checked_add(buf.len())?;
            map.as_ref()?.get(start..end)
        });
        match bytes {
            Some(bytes) => {
                buf.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    }

    /// The mapping, held (against being mapped again) until the result is
    /// dropped, for [`Held::touch`]. Several may be held at once, of one
    /// segment or of several.
    #[cfg(unix)]
    pub(super) fn hold(&self) -> Held<'_> {
        // Recursive: a read may hold one segment's mapping twice, and must
        // not wait for a writer queued between the two.
        Held(self.map.read_recursive())
    }

    /// Maps the file as long as it is now, unless another read did.
    #[cfg(unix)]
    fn map_again(&self) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        let mut map = self.map.write();
        let mapped = map.as_ref().map_or(0, |map| map.len() as u64);
        if len > mapped {
            // SAFETY: the log never changes a byte once written and cuts a
            // segment short only past its last record, and reads copy only
            // indexed events' bytes, which lie before it (see the module).
            // The old mapping goes while no read holds it: under the lock.
            *map = Some(unsafe { memmap2::Mmap::map(&self.file)? });
        }
        Ok(())
    }

    /// Nothing to hold: each read is a system call here.
    #[cfg(windows)]
    pub(super) fn hold(&self) -> Held<'_> {
        Held(std::marker::PhantomData)
    }

    /// Fills `buf` with the file's bytes at `offset`.
    #[cfg(windows)]
    pub(super) fn read_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(&self.file, buf, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A segment's mapping, held for a moment (see [`Mapped::hold`]).
#[cfg(unix)]
pub(super) struct Held<'m>(parking_lot::RwLockReadGuard<'m, Option<memmap2::Mmap>>);

#[cfg(windows)]
pub(super) struct Held<'m>(std::marker::PhantomData<&'m ()>);

impl Held<'_> {
    /// Loads the mapped byte at `offset`, if the mapping holds it, and
    /// drops it: the processor starts fetching the memory there (and the
    /// kernel maps its page), so that a copy from it soon after waits
    /// less. Touches of several places, with no lock taken between them,
    /// wait for their memory together. Bytes past the mapping are left
    /// alone.
    #[cfg(unix)]
    pub(super) fn touch(&self, offset: u64) {
        if let Some(byte) = usize::try_from(offset)
            .ok()
            .and_then(|at| self.0.as_ref()?.get(at))
        {
            std::hint::black_box(*byte);
        }
    }

    /// Does nothing: each read is a system call here.
    #[cfg(windows)]
    pub(super) fn touch(&self, _offset: u64) {}
}

#[cfg(all(test, unix))]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_file_that_grows_after_its_first_read_is_read_past_its_first_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment");
        let mut writer = File::create(&path).unwrap();
        writer.write_all(b"first").unwrap();
        let mapped = Mapped::new(File::open(&path).unwrap());
        let mut buf = [0; 5];
        mapped.read_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"first");

        writer.write_all(b"second").unwrap();
        let mut buf = [0; 6];
        mapped.read_at(&mut buf, 5).unwrap();
        assert_eq!(&buf, b"second");
        mapped.read_at(&mut buf[..4], 3).unwrap();
        assert_eq!(&buf[..4], b"stse");
    }

    #[test]
    fn a_touch_anywhere_is_harmless_and_changes_no_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment");
        std::fs::write(&path, b"bytes").unwrap();
        let mapped = Mapped::new(File::open(&path).unwrap());
        // Before the first read nothing is mapped, after it the file is.
        mapped.hold().touch(0);
        let mut buf = [0; 5];
        mapped.read_at(&mut buf, 0).unwrap();
        {
            let (held, again) = (mapped.hold(), mapped.hold());
            for offset in [0, 4, 5, 1 << 40, u64::MAX] {
                held.touch(offset);
                again.touch(offset);
            }
        }
        mapped.read_at(&mut buf[..3], 2).unwrap();
        assert_eq!(&buf[..3], b"tes");
    }

    #[test]
    fn bytes_past_the_end_are_an_error_not_a_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment");
        std::fs::write(&path, b"short").unwrap();
        let mapped = Mapped::new(File::open(&path).unwrap());
        let mut buf = [0; 4];
        let err = mapped.read_at(&mut buf, 3).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            mapped.read_at(&mut buf, u64::MAX - 1).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );

        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        let mapped = Mapped::new(File::open(&empty).unwrap());
        assert_eq!(
            mapped.read_at(&mut buf, 0).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }
}
