//! [`Limits`]: the input bounds every store enforces before it writes.

use std::collections::HashSet;

use crate::EventRecord;
use crate::model::error::InvalidInput;

/// Bounds on what one append may carry. Every store checks them, with
/// [`check_append`](Self::check_append), before it writes anything, so an
/// over-large input is an [`InvalidInput`] error, never a partial write —
/// and never an append that is acknowledged but cannot be stored.
///
/// No setting can admit more than [`Limits::CEILING`]: what every store's
/// format holds (the embedded store's record keeps a tag count in 16 bits
/// and a record's length in 32; PostgreSQL takes at most 1 GB in one
/// message). A larger setting is lowered to the ceiling, so the in-memory,
/// embedded and PostgreSQL stores accept and refuse the same input.
///
/// ```
/// use dcb_core::Limits;
///
/// let limits = Limits::default().max_event_size(64 * 1024);
/// assert_eq!(limits.max_event_size, 64 * 1024);
///
/// // No store can hold 100 000 tags on one event: the setting is lowered.
/// let limits = Limits::default().max_tags_per_event(100_000);
/// assert_eq!(limits.max_tags_per_event, Limits::CEILING.max_tags_per_event);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// The largest event accepted, as measured by [`EventRecord::size`].
    pub max_event_size: usize,
    /// The most events accepted in one append.
    pub max_events_per_append: usize,
    /// The most tags accepted on one event.
    pub max_tags_per_event: usize,
    /// The largest append accepted: the sum of its events' [`EventRecord::size`].
    pub max_append_size: usize,
    /// The most metadata accepted on one event: the bytes of its keys and
    /// values ([`Metadata::size`](crate::Metadata::size)).
    pub max_metadata_size: usize,
}

impl Limits {
    /// The default largest event: 1 MiB.
    pub const DEFAULT_MAX_EVENT_SIZE: usize = 1 << 20;
    /// The default largest append in events: 100 000.
    pub const DEFAULT_MAX_EVENTS_PER_APPEND: usize = 100_000;
    /// The default most tags on one event: 1 024.
    pub const DEFAULT_MAX_TAGS_PER_EVENT: usize = 1 << 10;
    /// The default largest append in bytes: 64 MiB.
    pub const DEFAULT_MAX_APPEND_SIZE: usize = 64 << 20;
    /// The default most metadata on one event: 4 KiB.
    pub const DEFAULT_MAX_METADATA_SIZE: usize = 4 << 10;

    /// The most any store holds; no setting goes beyond it.
    ///
    /// - 65 535 tags per event: the embedded record counts them in 16 bits.
    /// - 512 MiB per append (and so per event): an embedded record's length
    ///   is 32 bits, and its encoding adds at most 2 bytes per tag and 4 per
    ///   metadata entry (tags and metadata keys are counted in
    ///   [`EventRecord::size`], at least a byte each) and 27 bytes per
    ///   event, so a record stays under 3 GiB; PostgreSQL refuses a message
    ///   over 1 GB.
    /// - 1 000 000 events per append.
    /// - 65 535 bytes of metadata per event: the embedded record keeps a
    ///   value's length in 16 bits.
    pub const CEILING: Limits = Limits {
        max_event_size: 512 << 20,
        max_events_per_append: 1_000_000,
        max_tags_per_event: u16::MAX as usize,
        max_append_size: 512 << 20,
        max_metadata_size: u16::MAX as usize,
    };

    /// Sets the largest event accepted (at most the ceiling's).
    #[must_use]
    pub fn max_event_size(mut self, bytes: usize) -> Limits {
        self.max_event_size = bytes.min(Limits::CEILING.max_event_size);
        self
    }

    /// Sets the most events accepted in one append (at most the ceiling's).
    #[must_use]
    pub fn max_events_per_append(mut self, count: usize) -> Limits {
        self.max_events_per_append = count.min(Limits::CEILING.max_events_per_append);
        self
    }

    /// Sets the most tags accepted on one event (at most the ceiling's).
    #[must_use]
    pub fn max_tags_per_event(mut self, count: usize) -> Limits {
        self.max_tags_per_event = count.min(Limits::CEILING.max_tags_per_event);
        self
    }

    /// Sets the largest append accepted, in bytes (at most the ceiling's).
    #[must_use]
    pub fn max_append_size(mut self, bytes: usize) -> Limits {
        self.max_append_size = bytes.min(Limits::CEILING.max_append_size);
        self
    }

    /// Sets the most metadata accepted on one event, in bytes (at most the
    /// ceiling's).
    #[must_use]
    pub fn max_metadata_size(mut self, bytes: usize) -> Limits {
        self.max_metadata_size = bytes.min(Limits::CEILING.max_metadata_size);
        self
    }

    /// These limits, each lowered to the ceiling: what is enforced even
    /// when a field was set directly.
    #[must_use]
    pub fn enforced(&self) -> Limits {
        let ceiling = Limits::CEILING;
        Limits {
            max_event_size: self.max_event_size.min(ceiling.max_event_size),
            max_events_per_append: self
                .max_events_per_append
                .min(ceiling.max_events_per_append),
            max_tags_per_event: self.max_tags_per_event.min(ceiling.max_tags_per_event),
            max_append_size: self.max_append_size.min(ceiling.max_append_size),
            max_metadata_size: self.max_metadata_size.min(ceiling.max_metadata_size),
        }
    }

    /// Checks an append against the limits (as [`enforced`](Self::enforced))
    /// and the rules every append follows: at least one event, and no event
    /// id twice in one append. Every store calls it before it writes.
    pub fn check_append(&self, events: &[EventRecord]) -> Result<(), InvalidInput> {
        let limits = self.enforced();
        if events.is_empty() {
            return Err(InvalidInput::EmptyAppend);
        }
        if events.len() > limits.max_events_per_append {
            return Err(InvalidInput::TooManyEvents {
                count: events.len(),
                limit: limits.max_events_per_append,
            });
        }
        let mut total = 0usize;
        for (index, event) in events.iter().enumerate() {
            let tags = event.tags().len();
            if tags > limits.max_tags_per_event {
                return Err(InvalidInput::TooManyTags {
                    index,
                    event_type: event.event_type().clone(),
                    count: tags,
                    limit: limits.max_tags_per_event,
                });
            }
            let metadata = event.metadata();
            if !metadata.is_empty() {
                if let Some((key, _)) = metadata
                    .iter()
                    .find(|(key, _)| key.is_empty() || key.len() > crate::MAX_NAME_LEN)
                {
                    return Err(InvalidInput::BadMetadataKey {
                        index,
                        event_type: event.event_type().clone(),
                        len: key.len(),
                    });
                }
                if metadata
                    .iter()
                    .any(|(key, value)| key.contains('\0') || value.contains('\0'))
                {
                    return Err(InvalidInput::NulInMetadata {
                        index,
                        event_type: event.event_type().clone(),
                    });
                }
                let size = metadata.size();
                if size > limits.max_metadata_size {
                    return Err(InvalidInput::MetadataTooLarge {
                        index,
                        event_type: event.event_type().clone(),
                        size,
                        limit: limits.max_metadata_size,
                    });
                }
            }
            let size = event.size();
            if size > limits.max_event_size {
                return Err(InvalidInput::EventTooLarge {
                    index,
                    event_type: event.event_type().clone(),
                    size,
                    limit: limits.max_event_size,
                });
            }
            total = total.saturating_add(size);
        }
        if total > limits.max_append_size {
            return Err(InvalidInput::AppendTooLarge {
                size: total,
                limit: limits.max_append_size,
            });
        }
        if events.iter().filter(|e| e.id().is_some()).nth(1).is_some() {
            let mut seen = HashSet::with_capacity(events.len());
            for (index, event) in events.iter().enumerate() {
                if let Some(id) = event.id()
                    && !seen.insert(id)
                {
                    return Err(InvalidInput::DuplicateEventIdInAppend { id, index });
                }
            }
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_event_size: Limits::DEFAULT_MAX_EVENT_SIZE,
            max_events_per_append: Limits::DEFAULT_MAX_EVENTS_PER_APPEND,
            max_tags_per_event: Limits::DEFAULT_MAX_TAGS_PER_EVENT,
            max_append_size: Limits::DEFAULT_MAX_APPEND_SIZE,
            max_metadata_size: Limits::DEFAULT_MAX_METADATA_SIZE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventType, Tag, Tags};

    fn with_tags(count: usize) -> EventRecord {
        let tags: Vec<Tag> = (0..count)
            .map(|i| Tag::new(format!("t:{i}")).unwrap())
            .collect();
        EventRecord::new(EventType::from_static("T"), "").with_tags(Tags::from(tags))
    }

    #[test]
    fn no_setting_goes_beyond_the_ceiling() {
        let mut limits = Limits::default()
            .max_event_size(usize::MAX)
            .max_events_per_append(usize::MAX)
            .max_tags_per_event(usize::MAX)
            .max_append_size(usize::MAX)
            .max_metadata_size(usize::MAX);
        assert_eq!(limits, Limits::CEILING);
        // Fields set directly are lowered when enforced.
        limits.max_tags_per_event = usize::MAX;
        assert_eq!(limits.enforced(), Limits::CEILING);
        let over = u16::MAX as usize + 1;
        assert_eq!(
            limits.check_append(&[with_tags(over)]),
            Err(InvalidInput::TooManyTags {
                index: 0,
                event_type: EventType::from_static("T"),
                count: over,
                limit: u16::MAX as usize,
            })
        );
        assert_eq!(limits.check_append(&[with_tags(over - 1)]), Ok(()));
    }

    #[test]
    fn metadata_is_bounded_and_its_keys_named() {
        let limits = Limits::default().max_metadata_size(8);
        let event = |metadata: crate::Metadata| {
            EventRecord::new(EventType::from_static("T"), "").with_metadata(metadata)
        };
        let fits = crate::Metadata::new().with("user", "bob!");
        assert_eq!(limits.check_append(&[event(fits.clone())]), Ok(()));
        assert_eq!(
            limits.check_append(&[event(fits.clone()), event(fits.with("k", ""))]),
            Err(InvalidInput::MetadataTooLarge {
                index: 1,
                event_type: EventType::from_static("T"),
                size: 9,
                limit: 8
            })
        );
        assert_eq!(
            limits.check_append(&[event(crate::Metadata::new().with("", "v"))]),
            Err(InvalidInput::BadMetadataKey {
                index: 0,
                event_type: EventType::from_static("T"),
                len: 0
            })
        );
        assert_eq!(
            limits.check_append(&[event(crate::Metadata::new().with("k", "a\0b"))]),
            Err(InvalidInput::NulInMetadata {
                index: 0,
                event_type: EventType::from_static("T"),
            })
        );
        let long = "k".repeat(crate::MAX_NAME_LEN + 1);
        assert!(matches!(
            Limits::default().check_append(&[event(crate::Metadata::new().with(long, ""))]),
            Err(InvalidInput::BadMetadataKey { len: 257, .. })
        ));
    }

    #[test]
    fn an_append_is_bounded_by_its_total_size() {
        let limits = Limits::default().max_append_size(10);
        let event = EventRecord::new(EventType::from_static("T"), vec![0; 4]);
        assert_eq!(limits.check_append(&[event.clone(), event.clone()]), Ok(()));
        assert_eq!(
            limits.check_append(&[event.clone(), event.clone(), event]),
            Err(InvalidInput::AppendTooLarge {
                size: 15,
                limit: 10
            })
        );
    }
}
