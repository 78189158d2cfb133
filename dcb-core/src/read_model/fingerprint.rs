//! [`EventFingerprint`]: what identifies the event at a read model's
//! checkpoint, saved with the model.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::EventRecord;

/// What identifies an event apart from its position: its type, its id if
/// it has one, and a digest of its data and tags.
///
/// A [`Runner`](super::Runner) saves the fingerprint of the event at the
/// checkpoint together with the model. On the next start it reads the
/// event at that position again: if the store now holds another event
/// there — an older copy of the store was restored and written to since —
/// the saved model was built from events the store no longer has, and the
/// runner reports a [`Mismatch`](super::Mismatch).
///
/// The digest is FNV-1a (64 bits) over the data's length and bytes, then
/// the number of tags and each tag's length and bytes. It tells events
/// apart; it is no defence against someone forging an event. Saved models
/// depend on it, so it never changes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EventFingerprint {
    event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<Uuid>,
    digest: String,
}

impl EventFingerprint {
    /// The fingerprint of `event`.
    ///
    /// ```
    /// use dcb_core::read_model::EventFingerprint;
    /// use dcb_core::{EventRecord, EventType};
    ///
    /// let opened = EventType::from_static("AccountOpened");
    /// let one = EventFingerprint::of(&EventRecord::new(opened.clone(), r#"{"owner":"Sara"}"#));
    /// let other = EventFingerprint::of(&EventRecord::new(opened.clone(), r#"{"owner":"Greg"}"#));
    /// assert_ne!(one, other);
    /// assert_eq!(one, EventFingerprint::of(&EventRecord::new(opened, r#"{"owner":"Sara"}"#)));
    /// assert_eq!(one.event_type(), "AccountOpened");
    /// ```
    #[must_use]
    pub fn of(event: &EventRecord) -> EventFingerprint {
        let mut digest = Fnv1a::new();
        digest.write_with_length(event.data());
        digest.write(&(event.tags().len() as u64).to_le_bytes());
        for tag in event.tags() {
            digest.write_with_length(tag.as_str().as_bytes());
        }
        EventFingerprint {
            event_type: event.event_type().to_string(),
            id: event.id(),
            digest: format!("{:016x}", digest.0),
        }
    }

    /// The event's type.
    #[must_use]
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The event's id, if it has one.
    #[must_use]
    pub fn id(&self) -> Option<Uuid> {
        self.id
    }
}

/// FNV-1a, 64 bits: simple, and the same on every platform and release,
/// unlike the standard library's hasher.
struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Fnv1a {
        Fnv1a(Fnv1a::OFFSET_BASIS)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(Fnv1a::PRIME);
        }
    }

    /// Writes the length first, so that moving bytes from one field to the
    /// next changes the digest.
    fn write_with_length(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventType, Tag, Tags};

    fn event(data: &str, tags: &[&str]) -> EventRecord {
        EventRecord::new(EventType::from_static("Joined"), data.to_owned())
            .with_tags(tags.iter().map(|t| Tag::new(*t).unwrap()).collect::<Tags>())
    }

    #[test]
    fn the_digest_is_fixed() {
        // Saved models hold digests: a change here would make every one of
        // them look like it belongs to another store.
        assert_eq!(Fnv1a::new().0, 0xcbf2_9ce4_8422_2325);
        let mut empty = Fnv1a::new();
        empty.write(b"a");
        assert_eq!(empty.0, 0xaf63_dc4c_8601_ec8c, "FNV-1a of \"a\"");
        assert_eq!(
            EventFingerprint::of(&event("{}", &["course:1"])).digest,
            EventFingerprint::of(&event("{}", &["course:1"])).digest
        );
    }

    #[test]
    fn data_tags_type_and_id_all_count() {
        let base = EventFingerprint::of(&event("{}", &["course:1"]));
        assert_ne!(base, EventFingerprint::of(&event("{ }", &["course:1"])));
        assert_ne!(base, EventFingerprint::of(&event("{}", &["course:2"])));
        assert_ne!(base, EventFingerprint::of(&event("{}", &[])));
        assert_ne!(
            base,
            EventFingerprint::of(
                &EventRecord::new(EventType::from_static("Left"), "{}")
                    .with_tags([Tag::new("course:1").unwrap()])
            )
        );
        assert_ne!(
            base,
            EventFingerprint::of(&event("{}", &["course:1"]).with_id(Uuid::new_v4()))
        );
        // Bytes moved from the data to a tag.
        assert_ne!(
            EventFingerprint::of(&event("ab", &["c"])),
            EventFingerprint::of(&event("a", &["bc"]))
        );
    }
}
