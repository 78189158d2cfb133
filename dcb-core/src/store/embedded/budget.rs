//! The memory an open may take: the index is held in memory, so opening a
//! store too large for the memory at hand must fail with an error that
//! names the sizes, not abort the process on an allocation that fails.
//!
//! Opening charges a [`Budget`] with what it is about to hold — each
//! segment's bytes before reading them, and an estimate for the index
//! entries of each record's events — and stops with
//! [`OpenError::OutOfMemory`] once the estimate is over the limit, before
//! the allocations that would fail. The limit is the one configured
//! ([`EmbeddedOptions::memory_limit`](super::EmbeddedOptions::memory_limit)),
//! else the least of what the system has available, the room left under
//! the process's address-space limit, and the room left in its cgroup.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

use bytes::Bytes;

use super::OpenError;

/// The index's memory per event beyond the event's bytes in the log,
/// measured at about 570 bytes (1M course-booking events: 207 B of log and
/// 775 B resident each), with room to spare.
pub(super) const PER_EVENT: u64 = 640;

/// What an open may use, and what it has charged so far.
pub(super) struct Budget {
    dir: std::path::PathBuf,
    limit: Option<(u64, &'static str)>,
    /// The log's total size, to extrapolate from what is read so far.
    log_bytes: u64,
    /// The bytes of records decoded so far, and their events.
    decoded_bytes: u64,
    events: u64,
    used: u64,
}

impl Budget {
    /// A budget for opening the store in `dir`, whose segments hold
    /// `log_bytes`: `configured`, else what the process can get.
    pub(super) fn new(dir: &Path, configured: Option<u64>, log_bytes: u64) -> Budget {
        Budget {
            dir: dir.to_owned(),
            limit: configured
                .map(|limit| (limit, "the configured memory limit"))
                .or_else(available),
            log_bytes,
            decoded_bytes: 0,
            events: 0,
            used: 0,
        }
    }

    /// Charges `bytes` of a segment about to be read.
    pub(super) fn charge_segment(&mut self, bytes: u64) -> Result<(), OpenError> {
        self.charge(bytes)
    }

    /// Charges the index entries of a record of `len` bytes holding
    /// `events` events.
    pub(super) fn charge_record(&mut self, len: u64, events: u64) -> Result<(), OpenError> {
        self.decoded_bytes += len;
        self.events += events;
        self.charge(events.saturating_mul(PER_EVENT))
    }

    /// Releases the charge of `events` decoded events, which the open no
    /// longer holds in memory (they went into the index on disk).
    pub(super) fn release(&mut self, events: u64) {
        self.used = self.used.saturating_sub(events.saturating_mul(PER_EVENT));
    }

    fn charge(&mut self, bytes: u64) -> Result<(), OpenError> {
        self.used = self.used.saturating_add(bytes);
        match self.limit {
            Some((limit, what)) if self.used > limit => Err(OpenError::OutOfMemory {
                dir: self.dir.clone(),
                needed: self.needed(),
                available: limit,
                limited_by: what,
            }),
            _ => Ok(()),
        }
    }

    /// The error for an allocation that failed although the estimate was
    /// within the limit.
    pub(super) fn exhausted(&self) -> OpenError {
        OpenError::OutOfMemory {
            dir: self.dir.clone(),
            needed: self.needed(),
            available: self.used,
            limited_by: "an allocation that failed",
        }
    }

    /// The whole open's need, extrapolated from what is charged so far.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        clippy::cast_sign_loss
    )]
    fn needed(&self) -> u64 {
        if self.decoded_bytes == 0 {
            return self.used.max(self.log_bytes);
        }
        let events = self.events as f64 * (self.log_bytes as f64 / self.decoded_bytes as f64);
        self.log_bytes
            .saturating_add((events * PER_EVENT as f64) as u64)
            .max(self.used)
    }
}

/// Reads a segment from byte `start` on (at least the magic's length),
/// behind its magic: returns those bytes and the shift to add to an offset
/// in them for the file's offset (0 when the whole segment is read).
pub(super) fn read_segment_from(
    path: &Path,
    start: u64,
    budget: &mut Budget,
) -> Result<(Bytes, u64), OpenError> {
    let magic_len = super::record::MAGIC_LEN as u64;
    if start <= magic_len {
        return Ok((read_segment(path, budget)?, 0));
    }
    let mut file = File::open(path).map_err(|e| OpenError::io(path, e))?;
    let len = file.metadata().map_err(|e| OpenError::io(path, e))?.len();
    let wanted = len.saturating_sub(start) + magic_len;
    budget.charge_segment(wanted)?;
    let mut buffer = Vec::new();
    buffer
        .try_reserve_exact(usize::try_from(wanted).unwrap_or(usize::MAX))
        .map_err(|_| budget.exhausted())?;
    buffer.resize(super::record::MAGIC_LEN, 0);
    file.read_exact(&mut buffer)
        .and_then(|()| file.seek(std::io::SeekFrom::Start(start)))
        .and_then(|_| file.read_to_end(&mut buffer))
        .map_err(|e| OpenError::io(path, e))?;
    Ok((Bytes::from(buffer), start - magic_len))
}

/// Reads a whole segment, failing with [`OpenError::OutOfMemory`] rather
/// than aborting when its buffer cannot be had.
pub(super) fn read_segment(path: &Path, budget: &mut Budget) -> Result<Bytes, OpenError> {
    let mut file = File::open(path).map_err(|e| OpenError::io(path, e))?;
    let len = file.metadata().map_err(|e| OpenError::io(path, e))?.len();
    budget.charge_segment(len)?;
    let mut buffer = Vec::new();
    let wanted = usize::try_from(len).unwrap_or(usize::MAX);
    buffer
        .try_reserve_exact(wanted)
        .map_err(|_| budget.exhausted())?;
    file.read_to_end(&mut buffer)
        .map_err(|e| OpenError::io(path, e))?;
    Ok(Bytes::from(buffer))
}

/// The memory this process can still get, and what limits it; `None` where
/// it cannot be told (not Linux).
fn available() -> Option<(u64, &'static str)> {
    let system = meminfo("MemAvailable:").map(|available| {
        (
            available + meminfo("SwapFree:").unwrap_or(0),
            "the system's available memory",
        )
    });
    let address_space = address_space_limit().map(|limit| {
        let size = status("VmSize:").unwrap_or(0);
        (
            limit.saturating_sub(size),
            "the process's address-space limit (ulimit -v)",
        )
    });
    let cgroup = cgroup_room().map(|room| (room, "the cgroup's memory limit (memory.max)"));
    [system, address_space, cgroup]
        .into_iter()
        .flatten()
        .min_by_key(|(room, _)| *room)
}

/// A `kB` line of `/proc/meminfo`, in bytes.
fn meminfo(key: &str) -> Option<u64> {
    kilobytes(&std::fs::read_to_string("/proc/meminfo").ok()?, key)
}

/// A `kB` line of `/proc/self/status`, in bytes.
fn status(key: &str) -> Option<u64> {
    kilobytes(&std::fs::read_to_string("/proc/self/status").ok()?, key)
}

fn kilobytes(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with(key))?;
    let kb: u64 = line[key.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// The soft address-space limit, from `/proc/self/limits`.
fn address_space_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max address space"))?;
    line["Max address space".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The room left under the cgroup (v2) memory limit.
fn cgroup_room() -> Option<u64> {
    let max: u64 = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let current: u64 = std::fs::read_to_string("/sys/fs/cgroup/memory.current")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(max.saturating_sub(current))
}

/// Bytes in MiB, for messages.
#[allow(clippy::cast_precision_loss)]
pub(super) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}
