//! [`EmbeddedOptions`]: how to open an [`EmbeddedStore`](super::EmbeddedStore).

use std::time::Duration;

use crate::{Clock, Limits};

/// How to open an [`EmbeddedStore`](super::EmbeddedStore).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EmbeddedOptions {
    /// How long to wait for another process that has the store open.
    pub lock_timeout: Duration,
    /// The size after which appends go to a new segment file.
    pub segment_size: u64,
    /// The input limits appends are checked against.
    pub limits: Limits,
    /// The most memory opening may take for the index, which is held in
    /// memory; `None` (the default): what the process can get — the least
    /// of the system's available memory, the room under its address-space
    /// limit and under its cgroup's memory limit. A store that needs more
    /// fails to open with [`OpenError::OutOfMemory`](super::OpenError::OutOfMemory).
    pub memory_limit: Option<u64>,
    /// The clock appends are recorded by: the system clock unless set. An
    /// append is never recorded before the latest time in the log, so
    /// times never decrease along positions, even across a restart with a
    /// clock set back.
    pub clock: Clock,
}

impl Default for EmbeddedOptions {
    fn default() -> EmbeddedOptions {
        EmbeddedOptions {
            lock_timeout: Duration::from_secs(30),
            segment_size: 256 << 20,
            limits: Limits::default(),
            memory_limit: None,
            clock: Clock::system(),
        }
    }
}

impl EmbeddedOptions {
    /// Sets the clock appends are recorded by.
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> EmbeddedOptions {
        self.clock = clock;
        self
    }

    /// Sets how long to wait for another process that has the store open.
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> EmbeddedOptions {
        self.lock_timeout = timeout;
        self
    }

    /// Sets the size after which appends go to a new segment file.
    #[must_use]
    pub fn segment_size(mut self, bytes: u64) -> EmbeddedOptions {
        self.segment_size = bytes.max(4096);
        self
    }

    /// Sets the most memory opening may take for the index.
    #[must_use]
    pub fn memory_limit(mut self, bytes: u64) -> EmbeddedOptions {
        self.memory_limit = Some(bytes);
        self
    }

    /// Sets the input limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> EmbeddedOptions {
        self.limits = limits;
        self
    }
}
