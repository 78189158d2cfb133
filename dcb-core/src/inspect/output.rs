//! One JSON line per event.

use std::io::{self, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use uuid::Uuid;

use crate::domain::registry::{self, InspectError};
use crate::{Metadata, SequencedEvent, Timestamp};

/// An event as the inspector prints it: when the store recorded it (absent
/// for events stored before stores recorded times), its metadata (absent
/// when empty), and its data.
///
/// `data` is the event decoded through its registered type. When no type
/// is registered, `data_base64` holds the raw bytes instead; when the
/// registered type cannot decode them, `decode_error` says why, next to
/// `data_base64`.
#[derive(Serialize, Debug)]
pub(super) struct Line<'a> {
    position: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    recorded_at: Option<Timestamp>,
    #[serde(rename = "type")]
    event_type: &'a str,
    tags: Vec<&'a str>,
    id: Option<Uuid>,
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    metadata: &'a Metadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decode_error: Option<String>,
}

impl<'a> Line<'a> {
    pub(super) fn new(event: &'a SequencedEvent) -> Line<'a> {
        let (data, decode_error) = match registry::to_json(event) {
            Ok(data) => (Some(data), None),
            Err(InspectError::Unknown { .. }) => (None, None),
            Err(err) => (None, Some(err.to_string())),
        };
        Line {
            position: event.position.get(),
            recorded_at: event.recorded_at,
            event_type: event.event_type().as_str(),
            tags: event.tags().iter().map(crate::Tag::as_str).collect(),
            id: event.id(),
            metadata: event.metadata(),
            data_base64: data.is_none().then(|| STANDARD.encode(event.data())),
            data,
            decode_error,
        }
    }
}

/// An event type as `dcb types` prints it: how many events the store holds
/// of it and the Rust type registered for it, if exactly one is.
#[derive(Serialize, Debug)]
pub(super) struct TypeLine<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    events: u64,
    registered_as: Option<&'static str>,
}

impl<'a> TypeLine<'a> {
    pub(super) fn new(event_type: &'a str, events: u64) -> TypeLine<'a> {
        TypeLine {
            event_type,
            events,
            registered_as: registry::find(event_type).map(|r| r.rust_type.as_str()),
        }
    }

    /// Whether no registered type decodes events of this type.
    pub(super) fn is_unregistered(&self) -> bool {
        self.registered_as.is_none()
    }
}

/// Writes `line` as one line.
pub(super) fn write_type(out: &mut impl Write, line: &TypeLine<'_>) -> io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")
}

/// Writes `event` as one line.
pub(super) fn write_event(out: &mut impl Write, event: &SequencedEvent) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &Line::new(event))?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventRecord, EventType, Position, Tag};

    #[test]
    fn an_unknown_type_shows_its_bytes_in_base64() {
        let event = SequencedEvent::new(
            Position::FIRST,
            EventRecord::new(EventType::from_static("NotRegistered.Anywhere"), "hi\u{0}")
                .with_tags([Tag::from_static("b:2"), Tag::from_static("a:1")])
                .with_id(Uuid::from_u128(1)),
        );
        let mut out = Vec::new();
        write_event(&mut out, &event).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"position\":1,\"type\":\"NotRegistered.Anywhere\",\"tags\":[\"a:1\",\"b:2\"],\
             \"id\":\"00000000-0000-0000-0000-000000000001\",\"data_base64\":\"aGkA\"}\n"
        );
    }

    #[test]
    fn the_recorded_time_and_the_metadata_are_shown_when_there_are_some() {
        let event = SequencedEvent::new(
            Position::FIRST,
            EventRecord::new(EventType::from_static("NotRegistered.Anywhere"), "")
                .with_metadata([("user", "ada"), (Metadata::CORRELATION, "req-1")]),
        )
        .recorded(Timestamp::from_micros(1_796_472_000_000_001));
        let mut out = Vec::new();
        write_event(&mut out, &event).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"position\":1,\"recorded_at\":\"2026-12-05T12:00:00.000001Z\",\
             \"type\":\"NotRegistered.Anywhere\",\"tags\":[],\"id\":null,\
             \"metadata\":{\"correlation\":\"req-1\",\"user\":\"ada\"},\"data_base64\":\"\"}\n"
        );
    }
}
