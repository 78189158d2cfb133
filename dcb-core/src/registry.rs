//! The registry of every event type in the binary.
//!
//! `#[derive(Event)]` registers each event type (through `inventory`), so a
//! program can check at startup that no two Rust types claim the same stored
//! type name, and tools can decode any stored event to JSON for inspection.
//!
//! ```standalone_crate
//! use dcb_core::{DomainEvent, Event, Id, registry};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
//! struct CourseId(dcb_core::Uuid);
//!
//! #[derive(Event, Serialize, Deserialize)]
//! struct CourseRegistered {
//!     #[tag]
//!     course_id: CourseId,
//!     places: u32,
//! }
//!
//! registry::validate()?;
//! let registration = registry::find("CourseRegistered").expect("registered");
//! assert!(registration.rust_type.ends_with("CourseRegistered"));
//! # Ok::<(), registry::RegistryError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::SequencedEvent;
use crate::codec::CodecError;
use crate::domain::DecodeError;

/// One registered event type.
#[derive(Debug)]
pub struct Registration {
    /// The stored type name.
    pub event_type: &'static str,
    /// The Rust type's path, as `std::any::type_name` gives it.
    pub rust_type: &'static str,
    /// Where the type is declared (`file:line`).
    pub declared_at: &'static str,
    /// Decodes stored data of this type into JSON.
    pub to_json: fn(&[u8]) -> Result<serde_json::Value, CodecError>,
}

inventory::collect!(Registration);

/// Every registered event type, in no particular order.
pub fn registrations() -> impl Iterator<Item = &'static Registration> {
    inventory::iter::<Registration>.into_iter()
}

/// The registration of `event_type`, if exactly one Rust type claims it.
#[must_use]
pub fn find(event_type: &str) -> Option<&'static Registration> {
    let mut found = registrations().filter(|r| r.event_type == event_type);
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// Checks that no two Rust types in the binary claim the same stored type
/// name; run it at startup.
pub fn validate() -> Result<(), RegistryError> {
    let mut by_name: BTreeMap<&str, Vec<&'static Registration>> = BTreeMap::new();
    for registration in registrations() {
        by_name
            .entry(registration.event_type)
            .or_default()
            .push(registration);
    }
    let duplicates: Vec<Duplicate> = by_name
        .into_iter()
        .filter(|(_, claims)| claims.len() > 1)
        .map(|(event_type, claims)| Duplicate {
            event_type,
            claimed_by: claims
                .iter()
                .map(|r| (r.rust_type, r.declared_at))
                .collect(),
        })
        .collect();
    if duplicates.is_empty() {
        Ok(())
    } else {
        Err(RegistryError { duplicates })
    }
}

/// Decodes a stored event to JSON through its registered type.
pub fn to_json(event: &SequencedEvent) -> Result<serde_json::Value, InspectError> {
    let name = event.event_type().as_str();
    let registration = find(name).ok_or_else(|| InspectError::Unknown {
        event_type: name.to_owned(),
    })?;
    (registration.to_json)(event.data()).map_err(|cause| {
        InspectError::Decode(DecodeError {
            event_type: event.event_type().clone(),
            position: event.position,
            cause,
        })
    })
}

/// Two or more Rust types that claim the same stored type name.
#[derive(Debug, Clone)]
pub struct Duplicate {
    /// The stored type name.
    pub event_type: &'static str,
    /// Each claimant: its Rust type and where it is declared.
    pub claimed_by: Vec<(&'static str, &'static str)>,
}

/// The registry is inconsistent: some stored type names are claimed twice.
#[derive(Debug, Clone, thiserror::Error)]
pub struct RegistryError {
    /// Every duplicated name.
    pub duplicates: Vec<Duplicate>,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event type names claimed by more than one Rust type:")?;
        for duplicate in &self.duplicates {
            write!(f, "\n  {:?} by", duplicate.event_type)?;
            for (rust_type, declared_at) in &duplicate.claimed_by {
                write!(f, " {rust_type} ({declared_at})")?;
            }
        }
        write!(
            f,
            "\ngive each a distinct name with #[event(name = \"...\")]"
        )
    }
}

/// Why a stored event could not be shown as JSON.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// No Rust type in this binary is registered for the event's type (or
    /// several are).
    #[error("no single registered Rust type for event type {event_type:?}")]
    Unknown {
        /// The stored type name.
        event_type: String,
    },
    /// The registered type could not decode the data.
    #[error(transparent)]
    Decode(DecodeError),
}
