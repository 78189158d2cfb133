//! The on-disk record: one append, checksummed, in the format its
//! segment's magic names.
//!
//! ```text
//! record   = len: u32 | crc: u32 | payload (len bytes)          crc = CRC-32 of payload
//!
//! format 2 (segments starting `DCBLOG2\n`, written since 0.2):
//! payload  = first position: u64 | recorded at: i64 | count: u32 | event × count
//! event    = type len: u16 | type | tag count: u16 | (tag len: u16 | tag) × count
//!          | has id: u8 | id: 16 bytes if has id | data len: u32 | data
//!          | entry count: u16 | (key len: u16 | key | value len: u16 | value) × count
//!
//! format 1 (segments starting `DCBLOG1\n`, read, never written):
//! payload  = first position: u64 | count: u32 | event × count
//! event    = the format 2 event without its metadata entries
//! ```
//!
//! All integers are little-endian; `recorded at` is microseconds since the
//! Unix epoch, UTC. A record holds every event of one append, so an append
//! is on disk whole or not at all, and all of them were recorded at one
//! time. Format 1 records carry no time and no metadata.

use bytes::{Buf, BufMut, Bytes};
use uuid::Uuid;

use crate::{EventRecord, EventType, Metadata, Tag, Tags, Timestamp};

/// A record format, named by the magic its segments start with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Format {
    /// Events without recorded times or metadata: stores written before
    /// 0.2, still read.
    V1,
    /// Each record's time and each event's metadata: what the store writes.
    V2,
}

impl Format {
    /// The format new segments are written in.
    pub(super) const CURRENT: Format = Format::V2;

    /// The first bytes of a segment of this format.
    pub(super) const fn magic(self) -> &'static [u8; 8] {
        match self {
            Format::V1 => b"DCBLOG1\n",
            Format::V2 => b"DCBLOG2\n",
        }
    }

    /// The format of a segment starting with `bytes`, if it is a segment.
    pub(super) fn of(bytes: &[u8]) -> Option<Format> {
        [Format::V2, Format::V1]
            .into_iter()
            .find(|format| bytes.starts_with(format.magic()))
    }
}

/// The length of every format's magic.
pub(super) const MAGIC_LEN: usize = 8;

/// The size of a record's header: length and checksum.
pub(super) const HEADER_LEN: usize = 8;

/// An append the record format cannot hold. [`Limits`](crate::Limits)
/// never admit one, so this is a guard, not a path: the encoder refuses
/// rather than writing a length or count it would have to cut.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the append cannot be stored: {what} is {value}, over the record format's {max}")]
pub(super) struct Unencodable {
    what: &'static str,
    value: usize,
    max: u64,
}

/// Where one event's bytes lie in a record's encoding: their offset from
/// where the record starts, their length, and their CRC-32 — enough to
/// read the event alone, checked, without its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) offset: u64,
    pub(super) len: u32,
    pub(super) crc: u32,
}

/// Appends the record of `events`, starting at position `first` and
/// recorded at `at`, to `out`, in the current format, and the [`Span`] of
/// each event to `spans`. On error `out` and `spans` are left as they
/// were.
pub(super) fn encode(
    first: u64,
    at: Timestamp,
    events: &[EventRecord],
    out: &mut Vec<u8>,
    spans: &mut Vec<Span>,
) -> Result<(), Unencodable> {
    encode_as(Format::CURRENT, first, Some(at), events, out, spans)
}

/// [`encode`] in `format`: a format 1 record has no time and its events no
/// metadata. Re-encoding a record read from a segment in the segment's
/// format gives back its bytes, which is how the spans of a replayed
/// record are found.
pub(super) fn encode_as(
    format: Format,
    first: u64,
    at: Option<Timestamp>,
    events: &[EventRecord],
    out: &mut Vec<u8>,
    spans: &mut Vec<Span>,
) -> Result<(), Unencodable> {
    let start = out.len();
    let spans_before = spans.len();
    let encoded = encode_at(format, start, first, at, events, out, spans);
    if encoded.is_err() {
        out.truncate(start);
        spans.truncate(spans_before);
    }
    encoded
}

fn encode_at(
    format: Format,
    start: usize,
    first: u64,
    at: Option<Timestamp>,
    events: &[EventRecord],
    out: &mut Vec<u8>,
    spans: &mut Vec<Span>,
) -> Result<(), Unencodable> {
    out.put_u32_le(0);
    out.put_u32_le(0);
    out.put_u64_le(first);
    if format == Format::V2 {
        out.put_i64_le(at.map_or(0, Timestamp::as_micros));
    }
    out.put_u32_le(u32_of("the number of events", events.len())?);
    for event in events {
        let event_start = out.len();
        put_event(format, event, out)?;
        let bytes = &out[event_start..];
        spans.push(Span {
            offset: (event_start - start) as u64,
            len: u32_of("an event's length", bytes.len())?,
            crc: crc32fast::hash(bytes),
        });
    }
    let payload_len = u32_of("the record's length", out.len() - start - HEADER_LEN)?;
    let crc = crc32fast::hash(&out[start + HEADER_LEN..]);
    out[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

fn put_event(format: Format, event: &EventRecord, out: &mut Vec<u8>) -> Result<(), Unencodable> {
    put_short_str(out, "an event type", event.event_type().as_str())?;
    out.put_u16_le(u16_of("the number of an event's tags", event.tags().len())?);
    for tag in event.tags() {
        put_short_str(out, "a tag", tag.as_str())?;
    }
    match event.id() {
        Some(id) => {
            out.put_u8(1);
            out.put_slice(id.as_bytes());
        }
        None => out.put_u8(0),
    }
    out.put_u32_le(u32_of("an event's data length", event.data().len())?);
    out.put_slice(event.data());
    if format == Format::V2 {
        let metadata = event.metadata();
        out.put_u16_le(u16_of("the number of metadata entries", metadata.len())?);
        for (key, value) in metadata.iter() {
            put_short_str(out, "a metadata key", key)?;
            put_short_str(out, "a metadata value", value)?;
        }
    }
    Ok(())
}

/// `value` in 16 bits, or why it does not fit.
fn u16_of(what: &'static str, value: usize) -> Result<u16, Unencodable> {
    u16::try_from(value).map_err(|_| Unencodable {
        what,
        value,
        max: u16::MAX.into(),
    })
}

/// `value` in 32 bits, or why it does not fit.
fn u32_of(what: &'static str, value: usize) -> Result<u32, Unencodable> {
    u32::try_from(value).map_err(|_| Unencodable {
        what,
        value,
        max: u32::MAX.into(),
    })
}

/// Names, tags and metadata keys are at most 256 bytes (`MAX_NAME_LEN`),
/// metadata values at most 65,535 (the limits' ceiling); the length is
/// checked all the same.
fn put_short_str(out: &mut Vec<u8>, what: &'static str, s: &str) -> Result<(), Unencodable> {
    out.put_u16_le(u16_of(what, s.len())?);
    out.put_slice(s.as_bytes());
    Ok(())
}

/// What is found at an offset of a segment.
pub(super) enum Found {
    /// A whole, intact record: its first position, when it was recorded
    /// (`None` in format 1), its events, and its total length on disk.
    Record {
        first: u64,
        recorded_at: Option<Timestamp>,
        events: Vec<EventRecord>,
        len: usize,
    },
    /// Nothing more: the end of the data (or zeros after it).
    End,
    /// A record that is cut short or fails its checksum.
    Damaged(&'static str),
}

/// Reads the record at `offset` of `segment`, written in `format`. Event
/// data is shared with `segment`, not copied.
pub(super) fn decode(segment: &Bytes, offset: usize, format: Format) -> Found {
    let rest = &segment[offset..];
    if rest.is_empty() {
        return Found::End;
    }
    if rest.len() < HEADER_LEN {
        return if rest.iter().all(|&b| b == 0) {
            Found::End
        } else {
            Found::Damaged("the record header is cut short")
        };
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    if len == 0 && crc == 0 {
        return if rest.iter().all(|&b| b == 0) {
            Found::End
        } else {
            Found::Damaged("an empty record header is followed by data")
        };
    }
    if rest.len() - HEADER_LEN < len {
        return Found::Damaged("the record is cut short");
    }
    let payload_start = offset + HEADER_LEN;
    let payload = segment.slice(payload_start..payload_start + len);
    if crc32fast::hash(&payload) != crc {
        return Found::Damaged("the record's checksum does not match");
    }
    match parse_payload(payload, format) {
        Some((first, recorded_at, events)) => Found::Record {
            first,
            recorded_at,
            events,
            len: HEADER_LEN + len,
        },
        None => Found::Damaged("the record's checksum matches but its events cannot be read"),
    }
}

fn parse_payload(
    mut payload: Bytes,
    format: Format,
) -> Option<(u64, Option<Timestamp>, Vec<EventRecord>)> {
    let first = take_u64(&mut payload)?;
    let recorded_at = match format {
        Format::V1 => None,
        Format::V2 => Some(Timestamp::from_micros(
            take_u64(&mut payload)?.cast_signed(),
        )),
    };
    let count = take_u32(&mut payload)? as usize;
    let mut events = Vec::with_capacity(count.min(payload.len()));
    let mut names = Names::default();
    for _ in 0..count {
        events.push(take_event(&mut payload, format, &mut names)?);
    }
    payload.is_empty().then_some((first, recorded_at, events))
}

/// The event whose bytes are `bytes`, as a [`Span`] of a record in
/// `format` marks them, if they are one whole event. `names` holds the
/// names of the events decoded just before, which this one shares.
pub(super) fn decode_event(
    mut bytes: Bytes,
    format: Format,
    names: &mut Names,
) -> Option<EventRecord> {
    let event = take_event(&mut bytes, format, names)?;
    bytes.is_empty().then_some(event)
}

/// The event types and tags of the events decoded last, so that events
/// that repeat one — a decision's events name the same course and the
/// same few types — share its copy (a clone of an `Arc`) instead of each
/// checking and allocating its own.
#[derive(Default)]
pub(super) struct Names {
    types: Recent<EventType>,
    tags: Recent<Tag>,
}

/// Up to [`RECENT`] names, the oldest replaced first.
struct Recent<T> {
    names: Vec<T>,
    oldest: usize,
}

/// How many event types, and how many tags, [`Names`] keeps.
const RECENT: usize = 8;

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Recent {
            names: Vec::new(),
            oldest: 0,
        }
    }
}

impl<T: Clone + AsRef<str>> Recent<T> {
    /// The kept name equal to `name`, else what `make` makes of it, kept
    /// in place of the oldest.
    fn get(&mut self, name: &str, make: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        if let Some(kept) = self.names.iter().find(|kept| (*kept).as_ref() == name) {
            return Some(kept.clone());
        }
        let new = make(name)?;
        if self.names.len() < RECENT {
            self.names.push(new.clone());
        } else {
            self.names[self.oldest] = new.clone();
            self.oldest = (self.oldest + 1) % RECENT;
        }
        Some(new)
    }
}

fn take_event(payload: &mut Bytes, format: Format, names: &mut Names) -> Option<EventRecord> {
    let event_type = take_name(payload, |name| {
        names.types.get(name, |name| EventType::new(name).ok())
    })?;
    let tag_count = take_u16(payload)?;
    let mut tags = Vec::with_capacity(usize::from(tag_count));
    for _ in 0..tag_count {
        tags.push(take_name(payload, |name| {
            names.tags.get(name, |name| Tag::new(name).ok())
        })?);
    }
    let id = match take_u8(payload)? {
        0 => None,
        1 => Some(Uuid::from_slice(&take_bytes(payload, 16)?).ok()?),
        _ => return None,
    };
    let data_len = take_u32(payload)? as usize;
    let data = take_bytes(payload, data_len)?;
    let mut event = EventRecord::new(event_type, data).with_tags(Tags::from(tags));
    if let Some(id) = id {
        event = event.with_id(id);
    }
    if format == Format::V2 {
        let entries = take_u16(payload)?;
        if entries > 0 {
            let mut metadata = Vec::with_capacity(usize::from(entries));
            for _ in 0..entries {
                metadata.push((take_str(payload)?, take_str(payload)?));
            }
            event = event.with_metadata(metadata.into_iter().collect::<Metadata>());
        }
    }
    Some(event)
}

fn take_u8(b: &mut Bytes) -> Option<u8> {
    (b.remaining() >= 1).then(|| b.get_u8())
}

fn take_u16(b: &mut Bytes) -> Option<u16> {
    (b.remaining() >= 2).then(|| b.get_u16_le())
}

fn take_u32(b: &mut Bytes) -> Option<u32> {
    (b.remaining() >= 4).then(|| b.get_u32_le())
}

fn take_u64(b: &mut Bytes) -> Option<u64> {
    (b.remaining() >= 8).then(|| b.get_u64_le())
}

fn take_bytes(b: &mut Bytes, len: usize) -> Option<Bytes> {
    (b.remaining() >= len).then(|| b.split_to(len))
}

/// What `make` makes of the next string, read in place (an event type or
/// a tag keeps a copy of its own; a metadata string is copied out).
fn take_name<T>(b: &mut Bytes, make: impl FnOnce(&str) -> Option<T>) -> Option<T> {
    let len = usize::from(take_u16(b)?);
    let value = make(std::str::from_utf8(b.get(..len)?).ok()?)?;
    b.advance(len);
    Some(value)
}

fn take_str(b: &mut Bytes) -> Option<String> {
    take_name(b, |s| Some(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Timestamp = Timestamp::from_micros(1_796_489_435_123_456);

    const SPAN: Span = Span {
        offset: 1,
        len: 2,
        crc: 3,
    };

    fn sample() -> Vec<EventRecord> {
        vec![
            EventRecord::new(EventType::from_static("A"), "{\"x\":1}")
                .with_tags([Tag::from_static("t:1"), Tag::from_static("u:2")])
                .with_id(Uuid::from_u128(7))
                .with_metadata([("correlation", "c-1"), ("user", "alice")]),
            EventRecord::new(EventType::from_static("B"), Vec::<u8>::new()),
        ]
    }

    #[test]
    fn round_trips() {
        let mut out = Vec::new();
        encode(5, AT, &sample(), &mut out, &mut Vec::new()).unwrap();
        let segment = Bytes::from(out);
        match decode(&segment, 0, Format::V2) {
            Found::Record {
                first,
                recorded_at,
                events,
                len,
            } => {
                assert_eq!(first, 5);
                assert_eq!(recorded_at, Some(AT));
                assert_eq!(events, sample());
                assert_eq!(len, segment.len());
            }
            _ => panic!("expected a record"),
        }
        assert!(matches!(
            decode(&segment, segment.len(), Format::V2),
            Found::End
        ));
    }

    /// The bytes `span` marks in `record`.
    fn spanned(record: &[u8], span: Span) -> &[u8] {
        let start = usize::try_from(span.offset).unwrap();
        &record[start..start + span.len as usize]
    }

    #[test]
    fn spans_mark_each_event_alone() {
        let mut out = b"before".to_vec();
        let mut spans = Vec::new();
        encode(5, AT, &sample(), &mut out, &mut spans).unwrap();
        assert_eq!(spans.len(), sample().len());
        let record = &out[b"before".len()..];
        for (span, event) in spans.iter().zip(sample()) {
            let bytes = spanned(record, *span);
            assert_eq!(crc32fast::hash(bytes), span.crc);
            let read = decode_event(
                Bytes::copy_from_slice(bytes),
                Format::V2,
                &mut Names::default(),
            );
            assert_eq!(read, Some(event));
            let longer = [bytes, &[0]].concat();
            assert_eq!(
                decode_event(Bytes::from(longer), Format::V2, &mut Names::default()),
                None,
                "a byte more is not one event"
            );
        }
    }

    /// Events decoded one after the other with the same [`Names`] share
    /// the copies of the types and tags they repeat, and each still reads
    /// as it was written, however many other names came between.
    #[test]
    fn events_decoded_together_share_the_names_they_repeat() {
        let course = || Tag::new("course:1").unwrap();
        let events: Vec<EventRecord> = (0..20)
            .map(|i| {
                EventRecord::new(EventType::new("Joined").unwrap(), "{}")
                    .with_tags([course(), Tag::new(format!("student:{i}")).unwrap()])
            })
            .collect();
        let mut out = Vec::new();
        let mut spans = Vec::new();
        encode(1, AT, &events, &mut out, &mut spans).unwrap();
        let mut names = Names::default();
        let read: Vec<EventRecord> = spans
            .iter()
            .map(|&span| {
                let bytes = Bytes::copy_from_slice(spanned(&out, span));
                decode_event(bytes, Format::V2, &mut names).unwrap()
            })
            .collect();
        assert_eq!(read, events);
        let first_course = read[0].tags().iter().next().unwrap().as_str().as_ptr();
        let second_course = read[1].tags().iter().next().unwrap().as_str().as_ptr();
        assert_eq!(first_course, second_course, "one copy of the course's tag");
        assert_eq!(
            read[0].event_type().as_str().as_ptr(),
            read[19].event_type().as_str().as_ptr(),
            "one copy of the event type"
        );
        let students: std::collections::HashSet<_> = read
            .iter()
            .map(|e| e.tags().iter().nth(1).unwrap().as_str().as_ptr())
            .collect();
        assert_eq!(students.len(), 20, "each student's tag its own");
    }

    /// A name that is not valid is refused each time, never kept; past
    /// [`RECENT`] names, the oldest are replaced first.
    #[test]
    fn recent_names_refuse_invalid_ones_and_replace_the_oldest() {
        let mut recent = Recent::<Tag>::default();
        assert_eq!(recent.get("bad\u{7}", |n| Tag::new(n).ok()), None);
        assert_eq!(recent.get("bad\u{7}", |n| Tag::new(n).ok()), None);
        for i in 0..RECENT + 2 {
            let name = format!("t:{i}");
            assert_eq!(
                recent.get(&name, |n| Tag::new(n).ok()).unwrap().as_str(),
                name
            );
        }
        assert_eq!(recent.names.len(), RECENT, "the oldest are replaced");
        assert_eq!(recent.get("t:0", |_| None), None, "t:0 was the oldest");
        assert_eq!(recent.get("t:1", |_| None), None, "then t:1");
        for kept in ["t:2", "t:8", "t:9"] {
            assert_eq!(recent.get(kept, |_| None).unwrap().as_str(), kept);
        }
    }

    #[test]
    fn a_record_read_and_encoded_again_is_the_same_bytes() {
        let mut out = Vec::new();
        encode(5, AT, &sample(), &mut out, &mut Vec::new()).unwrap();
        let Found::Record {
            first,
            recorded_at,
            events,
            ..
        } = decode(&Bytes::from(out.clone()), 0, Format::V2)
        else {
            panic!("expected a record");
        };
        let mut again = Vec::new();
        encode_as(
            Format::V2,
            first,
            recorded_at,
            &events,
            &mut again,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(again, out);
    }

    /// A format 1 record, as 0.1 wrote it: no time, no metadata.
    #[test]
    fn reads_format_1() {
        let mut payload = Vec::new();
        payload.put_u64_le(3);
        payload.put_u32_le(1);
        payload.put_u16_le(1);
        payload.put_slice(b"A");
        payload.put_u16_le(1);
        payload.put_u16_le(3);
        payload.put_slice(b"t:1");
        payload.put_u8(0);
        payload.put_u32_le(2);
        payload.put_slice(b"{}");
        let mut out = Vec::new();
        out.put_u32_le(u32::try_from(payload.len()).unwrap());
        out.put_u32_le(crc32fast::hash(&payload));
        out.extend_from_slice(&payload);
        let segment = Bytes::from(out);
        let Found::Record {
            first,
            recorded_at,
            events,
            ..
        } = decode(&segment, 0, Format::V1)
        else {
            panic!("expected a record");
        };
        assert_eq!((first, recorded_at), (3, None));
        assert_eq!(
            events,
            [EventRecord::new(EventType::from_static("A"), "{}")
                .with_tags([Tag::from_static("t:1")])]
        );
        assert!(
            matches!(decode(&segment, 0, Format::V2), Found::Damaged(_)),
            "read as format 2 it does not parse"
        );
        let mut again = Vec::new();
        let mut spans = Vec::new();
        encode_as(Format::V1, first, None, &events, &mut again, &mut spans).unwrap();
        assert_eq!(again, segment, "encoded again in format 1, the same bytes");
        let bytes = Bytes::copy_from_slice(spanned(&segment, spans[0]));
        assert_eq!(
            decode_event(bytes, Format::V1, &mut Names::default()),
            Some(events[0].clone())
        );
    }

    #[test]
    fn detects_torn_and_flipped_records() {
        let mut out = Vec::new();
        encode(1, AT, &sample(), &mut out, &mut Vec::new()).unwrap();
        for cut in 1..out.len() {
            let torn = Bytes::copy_from_slice(&out[..cut]);
            assert!(
                matches!(decode(&torn, 0, Format::V2), Found::Damaged(_)),
                "cut at {cut}"
            );
        }
        for byte in HEADER_LEN..out.len() {
            let mut flipped = out.clone();
            flipped[byte] ^= 0x10;
            assert!(
                matches!(
                    decode(&Bytes::from(flipped), 0, Format::V2),
                    Found::Damaged(_)
                ),
                "flip at {byte}"
            );
        }
        let zeros = Bytes::from(vec![0u8; 64]);
        assert!(matches!(decode(&zeros, 0, Format::V2), Found::End));
    }

    #[test]
    fn refuses_what_the_format_cannot_hold() {
        let tags: Vec<Tag> = (0..=u32::from(u16::MAX))
            .map(|i| Tag::new(format!("t:{i}")).unwrap())
            .collect();
        let event = EventRecord::new(EventType::from_static("A"), "").with_tags(Tags::from(tags));
        let mut out = b"kept".to_vec();
        let mut spans = vec![SPAN];
        let err = encode(1, AT, &[event], &mut out, &mut spans).unwrap_err();
        assert_eq!(err.value, 65_536);
        assert_eq!(out, b"kept", "nothing of the refused record is left");
        assert_eq!(spans, [SPAN], "nor any of its spans");
    }
}
