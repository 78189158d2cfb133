//! [`Position`]: where an event sits in the application sequence.

use std::fmt;
use std::num::NonZeroU64;

/// The position of an event in the store's one global sequence.
///
/// The first event of a store is at position 1 and positions strictly
/// increase. A store documents whether its positions are also gap-free.
/// `Option<Position>` is as small as a `u64`: `None` stands for "before the
/// first event", which is the head of an empty store.
///
/// ```
/// use dcb_core::Position;
///
/// let first = Position::FIRST;
/// assert_eq!(first.get(), 1);
/// assert_eq!(Position::new(0), None);
/// assert!(first < first.next().unwrap());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(NonZeroU64);

impl Position {
    /// The position of a store's first event.
    pub const FIRST: Position = Position(NonZeroU64::MIN);

    /// The position with number `n`, or `None` for 0 (positions start at 1).
    #[must_use]
    pub const fn new(n: u64) -> Option<Position> {
        match NonZeroU64::new(n) {
            Some(n) => Some(Position(n)),
            None => None,
        }
    }

    /// The position's number.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0.get()
    }

    /// The following position, or `None` at `u64::MAX`.
    #[must_use]
    pub const fn next(self) -> Option<Position> {
        match self.0.checked_add(1) {
            Some(n) => Some(Position(n)),
            None => None,
        }
    }
}

impl fmt::Debug for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Position({})", self.0)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<Position> for u64 {
    fn from(position: Position) -> u64 {
        position.get()
    }
}

impl TryFrom<u64> for Position {
    type Error = ZeroPosition;

    fn try_from(n: u64) -> Result<Self, Self::Error> {
        Position::new(n).ok_or(ZeroPosition)
    }
}

/// The error for position 0, which does not exist: positions start at 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "position 0 does not exist: positions start at 1 (use `None` for \"before the first event\")"
)]
pub struct ZeroPosition;
