//! [`Timestamp`]: when a store recorded an event; [`Clock`]: where a
//! store reads it.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

/// A point in time in UTC, to the microsecond: when a store recorded an
/// event ([`SequencedEvent::recorded_at`](crate::SequencedEvent)).
///
/// It counts microseconds since the Unix epoch (1970-01-01T00:00:00Z),
/// like PostgreSQL's `timestamptz`, and prints and parses as RFC 3339.
///
/// ```
/// use dcb_core::Timestamp;
///
/// let at: Timestamp = "2026-12-05T16:50:35.123456Z".parse()?;
/// assert_eq!(at.to_string(), "2026-12-05T16:50:35.123456Z");
/// assert_eq!(at.as_micros(), 1_796_489_435_123_456);
/// // An offset is converted to UTC.
/// assert_eq!("2026-12-05T17:50:35.123456+01:00".parse::<Timestamp>()?, at);
/// // And converts to and from `SystemTime`.
/// assert_eq!(Timestamp::from(at.to_system_time()), at);
/// # Ok::<(), dcb_core::ParseTimestampError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// The time `micros` microseconds after the Unix epoch (before it, if
    /// negative).
    #[must_use]
    pub const fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    /// Microseconds since the Unix epoch.
    #[must_use]
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The system clock's time now, to the microsecond.
    ///
    /// Stores read it once per append, so it is read through a monotonic
    /// counter — the CPU's time-stamp counter where it is reliable — and
    /// re-anchored to the system clock every 100 ms: a clock set forward or
    /// back is followed within 100 ms, and between anchors the time
    /// advances at the counter's rate. The first read in a process
    /// calibrates the counter, in about a millisecond.
    #[must_use]
    pub fn now() -> Timestamp {
        SystemClock::get().now()
    }

    /// This time as a [`SystemTime`].
    #[must_use]
    pub fn to_system_time(self) -> SystemTime {
        let magnitude = Duration::from_micros(self.0.unsigned_abs());
        if self.0 >= 0 {
            SystemTime::UNIX_EPOCH + magnitude
        } else {
            SystemTime::UNIX_EPOCH - magnitude
        }
    }

    /// This time plus `duration`, at most the latest representable time.
    #[must_use]
    pub fn saturating_add(self, duration: Duration) -> Timestamp {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(micros))
    }

    /// This time less `duration`, at least the earliest representable time.
    #[must_use]
    pub fn saturating_sub(self, duration: Duration) -> Timestamp {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_sub(micros))
    }
}

/// The system clock read through a monotonic counter: 16 ns a read on the
/// machines we measure, against 40 ns for `SystemTime::now`, which was a
/// tenth of an in-memory append.
struct SystemClock {
    /// The counter's origin.
    base: quanta::Instant,
    /// The system clock's time, in microseconds, less the counter's
    /// microseconds since `base`, at the last anchoring.
    offset: AtomicI64,
    /// The counter's microseconds since `base` at the last anchoring.
    anchored: AtomicI64,
}

impl SystemClock {
    /// How often the counter is anchored to the system clock again.
    const ANCHOR_EVERY_US: i64 = 100_000;

    fn get() -> &'static SystemClock {
        static CLOCK: OnceLock<SystemClock> = OnceLock::new();
        CLOCK.get_or_init(|| {
            let base = quanta::Instant::now();
            let wall = Timestamp::from(SystemTime::now());
            SystemClock {
                base,
                offset: AtomicI64::new(wall.0),
                anchored: AtomicI64::new(0),
            }
        })
    }

    fn now(&self) -> Timestamp {
        let counter = whole_micros(quanta::Instant::now().duration_since(self.base));
        if counter - self.anchored.load(Ordering::Relaxed) >= Self::ANCHOR_EVERY_US {
            // Two threads anchoring at once store consistent pairs; a
            // reader between the stores is off by the drift of 100 ms.
            let wall = Timestamp::from(SystemTime::now());
            self.offset
                .store(wall.0.saturating_sub(counter), Ordering::Relaxed);
            self.anchored.store(counter, Ordering::Relaxed);
            return wall;
        }
        Timestamp(counter.saturating_add(self.offset.load(Ordering::Relaxed)))
    }
}

impl From<SystemTime> for Timestamp {
    /// The time to the microsecond, rounded down; times beyond about
    /// 292,000 years from 1970 saturate.
    fn from(time: SystemTime) -> Timestamp {
        match time.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(after) => Timestamp(whole_micros(after)),
            Err(before) => {
                // Rounded down: 1.5 µs before the epoch is -2 µs.
                let before = before.duration();
                let rest = before.subsec_nanos() % 1_000 != 0;
                Timestamp((-whole_micros(before)).saturating_sub(i64::from(rest)))
            }
        }
    }
}

/// The whole microseconds of `duration`, at most `i64::MAX`.
fn whole_micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs())
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(duration.subsec_micros()))
}

impl From<Timestamp> for SystemTime {
    fn from(time: Timestamp) -> SystemTime {
        time.to_system_time()
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with six decimals: `2026-12-05T16:50:35.123456Z`.
    /// A time outside the years -9999 to 9999, which RFC 3339 cannot
    /// write, prints as its microseconds since the epoch.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::Timestamp::from_microsecond(self.0) {
            Ok(time) => write!(f, "{time:.6}"),
            Err(_) => write!(f, "{} µs after the Unix epoch", self.0),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Text that is not an RFC 3339 time, such as `2026-12-05T16:50:35Z`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a time; write it as RFC 3339, such as 2026-12-05T16:50:35Z ({reason})")]
pub struct ParseTimestampError {
    text: String,
    reason: String,
}

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    /// Parses RFC 3339 with any offset (`Z`, `+01:00`) and up to nine
    /// decimals; digits below the microsecond are dropped.
    fn from_str(text: &str) -> Result<Timestamp, ParseTimestampError> {
        let error = |reason: String| ParseTimestampError {
            text: text.to_owned(),
            reason,
        };
        let time: jiff::Timestamp = text
            .parse()
            .map_err(|e: jiff::Error| error(e.to_string()))?;
        // Rounded down to the microsecond, before the epoch as after it.
        let nanos = time.as_nanosecond();
        let micros = nanos.div_euclid(1_000);
        i64::try_from(micros)
            .map(Timestamp)
            .map_err(|_| error("out of range".to_owned()))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a store reads the time it records an append at: the system clock
/// unless set otherwise, as tests of time rules and reproducible fixtures
/// do.
///
/// Whatever the clock says, a store never records an append before the
/// latest time it recorded (it takes the later of the two), so recorded
/// times never decrease along positions — also when the clock is set back,
/// or goes back across a restart.
///
/// ```
/// use dcb_core::{Clock, EventRecord, EventStore, EventType, InMemoryStore, Query, ReadOptions, Timestamp};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let noon: Timestamp = "2026-12-05T12:00:00Z".parse()?;
/// let store = InMemoryStore::new().with_clock(Clock::fixed(noon));
/// store.append(vec![EventRecord::new(EventType::from_static("Ticked"), "{}")], None).await?;
/// let read = store.read_to_end(&Query::all(), ReadOptions::new()).await?;
/// assert_eq!(read.events[0].recorded_at, Some(noon));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<dyn Fn() -> Timestamp + Send + Sync>>);

impl Clock {
    /// The system clock ([`Timestamp::now`]): the default.
    #[must_use]
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that always says `at`.
    #[must_use]
    pub fn fixed(at: Timestamp) -> Clock {
        Clock::from_fn(move || at)
    }

    /// A clock that asks `now` for the time.
    #[must_use]
    pub fn from_fn(now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Clock {
        Clock(Some(Arc::new(now)))
    }

    /// The time now, by this clock.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        match &self.0 {
            None => Timestamp::now(),
            Some(now) => now(),
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_none() {
            "Clock::system()"
        } else {
            "Clock::from_fn(..)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_and_parses_rfc_3339_to_the_microsecond() {
        let at = Timestamp::from_micros(1_796_489_435_000_001);
        assert_eq!(at.to_string(), "2026-12-05T16:50:35.000001Z");
        assert_eq!(at.to_string().parse::<Timestamp>(), Ok(at));
        assert_eq!(
            "2026-12-05T16:50:35.0000019Z".parse::<Timestamp>(),
            Ok(at),
            "nanoseconds are dropped"
        );
        assert_eq!(
            Timestamp::UNIX_EPOCH.to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
        let before = Timestamp::from_micros(-1);
        assert_eq!(before.to_string(), "1969-12-31T23:59:59.999999Z");
        assert_eq!(before.to_string().parse::<Timestamp>(), Ok(before));
        assert_eq!(
            "1969-12-31T23:59:59.9999995Z".parse::<Timestamp>(),
            Ok(before),
            "rounded down before the epoch too"
        );
    }

    #[test]
    fn a_time_rfc_3339_cannot_write_prints_as_micros() {
        assert_eq!(
            Timestamp::from_micros(i64::MAX).to_string(),
            "9223372036854775807 µs after the Unix epoch"
        );
    }

    #[test]
    fn bad_text_says_how_to_write_a_time() {
        let err = "yesterday".parse::<Timestamp>().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`yesterday` is not a time; write it as RFC 3339"),
            "{err}"
        );
    }

    #[test]
    fn now_follows_the_system_clock() {
        for _ in 0..3 {
            let before = Timestamp::from(SystemTime::now());
            let now = Timestamp::now();
            let after = Timestamp::from(SystemTime::now());
            // The counter and the system clock may differ by their drift
            // since the last anchoring: microseconds, not milliseconds.
            let slack = Duration::from_millis(5);
            assert!(
                now >= before.saturating_sub(slack) && now <= after.saturating_add(slack),
                "{before} <= {now} <= {after}"
            );
            std::thread::sleep(Duration::from_millis(120));
        }
    }

    #[test]
    fn converts_to_and_from_system_time() {
        for micros in [0, 1, -1, 1_796_489_435_123_456, -86_400_000_001] {
            let at = Timestamp::from_micros(micros);
            assert_eq!(Timestamp::from(at.to_system_time()), at);
        }
        let half = SystemTime::UNIX_EPOCH - Duration::from_nanos(1_500);
        assert_eq!(Timestamp::from(half), Timestamp::from_micros(-2));
    }
}
