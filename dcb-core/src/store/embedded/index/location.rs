//! Where an indexed event lies in the log: the index keeps this, not the
//! event, and a read takes the event's bytes from the log (see
//! [`Segments`](super::segments::Segments)).

use crate::Timestamp;

/// The time stored for an event recorded without one (format 1 logs).
const UNKNOWN_TIME: i64 = i64::MIN;

/// An event's bytes in the log: the segment (named by its first
/// position), their offset and length in it and their CRC-32 (checked
/// when the event is read), and the time the event was recorded at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::store::embedded) struct Location {
    pub(in crate::store::embedded) segment: u64,
    pub(in crate::store::embedded) offset: u64,
    pub(in crate::store::embedded) len: u32,
    pub(in crate::store::embedded) crc: u32,
    pub(in crate::store::embedded) recorded_at: Option<Timestamp>,
}

impl Location {
    /// The length of a location's encoding.
    pub(super) const LEN: usize = 32;

    /// The location's encoding: its fields big-endian, in order.
    pub(super) fn to_bytes(self) -> [u8; Location::LEN] {
        let mut out = [0; Location::LEN];
        out[..8].copy_from_slice(&self.segment.to_be_bytes());
        out[8..16].copy_from_slice(&self.offset.to_be_bytes());
        out[16..20].copy_from_slice(&self.len.to_be_bytes());
        out[20..24].copy_from_slice(&self.crc.to_be_bytes());
        out[24..].copy_from_slice(&self.micros().to_be_bytes());
        out
    }

    /// The time recorded, in microseconds since the epoch, or the mark of
    /// an unknown time: the form [`to_bytes`](Self::to_bytes) stores.
    pub(super) fn micros(self) -> i64 {
        self.recorded_at.map_or(UNKNOWN_TIME, Timestamp::as_micros)
    }

    /// The time whose [`micros`](Self::micros) are `micros`.
    pub(super) fn time_of(micros: i64) -> Option<Timestamp> {
        (micros != UNKNOWN_TIME).then(|| Timestamp::from_micros(micros))
    }

    /// The location `bytes` encode, if they are one.
    pub(super) fn from_bytes(bytes: &[u8]) -> Option<Location> {
        let bytes: &[u8; Location::LEN] = bytes.try_into().ok()?;
        let u64_at =
            |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        let u32_at =
            |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
        let at = u64_at(24).cast_signed();
        Some(Location {
            segment: u64_at(0),
            offset: u64_at(8),
            len: u32_at(16),
            crc: u32_at(20),
            recorded_at: Location::time_of(at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_reads_back_from_its_bytes() {
        for recorded_at in [None, Some(Timestamp::from_micros(1_796_489_435_123_456))] {
            let location = Location {
                segment: 960_001,
                offset: 1 << 33,
                len: 151,
                crc: 0xdead_beef,
                recorded_at,
            };
            assert_eq!(Location::from_bytes(&location.to_bytes()), Some(location));
        }
        assert_eq!(Location::from_bytes(&[0; 31]), None);
    }
}
