//! The registry of every event type in the binary.
//!
//! `#[derive(Event)]` registers each event type (through `inventory`), and
//! `#[upcast]` each upcaster of a versioned one, so a program can check at
//! startup that no two Rust types claim the same stored type name and that
//! every older version of a versioned type has exactly one upcaster; and
//! tools can decode any stored event to JSON for inspection.
//!
//! ```standalone_crate
//! use dcb_core::{Event, Id, registry};
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
use std::fmt::{self, Write as _};
use std::ops::Deref;
use std::panic::Location;

use serde::Serialize;

use crate::domain::codec::CodecError;
use crate::domain::event::DecodeError;
use crate::domain::versioning::{self, Upcaster};
use crate::{Event, SequencedEvent};

/// One registered event type: what `#[derive(Event)]` submits to the
/// registry, made by [`Registration::of`].
#[derive(Debug)]
pub struct Registration {
    /// The stored type name.
    pub event_type: &'static str,
    /// The Rust type's path, as `std::any::type_name` gives it.
    pub rust_type: TypeName,
    /// Where the type is registered: its `#[derive(Event)]`.
    pub declared_at: &'static Location<'static>,
    /// The type's current version ([`Event::VERSION`]).
    pub version: u32,
    /// Decodes stored data of this type, of any version, into JSON of the
    /// current version.
    pub to_json: fn(&[u8]) -> Result<serde_json::Value, CodecError>,
}

impl Registration {
    /// The registration of `E`, declared where this is called:
    /// `#[derive(Event)]` submits `Registration::of::<E>()` for each event
    /// type.
    #[must_use]
    #[track_caller]
    pub const fn of<E: Event + Serialize>() -> Self {
        Registration {
            event_type: E::NAME,
            rust_type: TypeName::of::<E>(),
            declared_at: Location::caller(),
            version: E::VERSION,
            to_json: to_json_of::<E>,
        }
    }
}

/// Decodes stored data of type `E` (upcast to its current version) and
/// encodes it as JSON.
fn to_json_of<E: Event + Serialize>(data: &[u8]) -> Result<serde_json::Value, CodecError> {
    Ok(serde_json::to_value(E::decode(data)?)?)
}

/// A Rust type's path, as [`std::any::type_name`] gives it, read as a
/// `str`. A function of the type rather than a string, since the path is
/// not known to constants.
#[derive(Clone, Copy)]
pub struct TypeName(fn() -> &'static str);

impl TypeName {
    /// The path of `T`.
    #[must_use]
    pub const fn of<T: ?Sized>() -> Self {
        TypeName(std::any::type_name::<T>)
    }

    /// The path.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        (self.0)()
    }
}

impl Deref for TypeName {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
/// name, and that each older version of a versioned type has exactly one
/// upcaster; run it at startup.
pub fn validate() -> Result<(), RegistryError> {
    let mut by_name: BTreeMap<&str, Vec<&'static Registration>> = BTreeMap::new();
    for registration in registrations() {
        by_name
            .entry(registration.event_type)
            .or_default()
            .push(registration);
    }
    let mut by_step: BTreeMap<(&str, u32), Vec<&'static Upcaster>> = BTreeMap::new();
    for upcaster in versioning::upcasters() {
        by_step
            .entry((upcaster.event_type, upcaster.from))
            .or_default()
            .push(upcaster);
    }
    let mut missing_upcasters = Vec::new();
    for registration in registrations() {
        for from in 1..registration.version {
            if !by_step.contains_key(&(registration.event_type, from)) {
                missing_upcasters.push(MissingUpcaster {
                    event_type: registration.event_type,
                    rust_type: registration.rust_type.as_str(),
                    from,
                });
            }
        }
    }
    let duplicate_upcasters: Vec<DuplicateUpcaster> = by_step
        .into_iter()
        .filter(|(_, upcasters)| upcasters.len() > 1)
        .map(|((event_type, from), upcasters)| DuplicateUpcaster {
            event_type,
            from,
            functions: upcasters
                .iter()
                .map(|u| (u.function, u.declared_at.to_string()))
                .collect(),
        })
        .collect();
    let duplicates: Vec<Duplicate> = by_name
        .into_iter()
        .filter(|(_, claims)| claims.len() > 1)
        .map(|(event_type, claims)| Duplicate {
            event_type,
            claimed_by: claims
                .iter()
                .map(|r| (r.rust_type.as_str(), r.declared_at.to_string()))
                .collect(),
        })
        .collect();
    if duplicates.is_empty() && duplicate_upcasters.is_empty() && missing_upcasters.is_empty() {
        Ok(())
    } else {
        Err(RegistryError {
            duplicates,
            duplicate_upcasters,
            missing_upcasters,
        })
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
    /// Each claimant: its Rust type and where it is declared
    /// (`file:line:column`).
    pub claimed_by: Vec<(&'static str, String)>,
}

/// Two or more upcasters of one version of an event type.
#[derive(Debug, Clone)]
pub struct DuplicateUpcaster {
    /// The stored type name.
    pub event_type: &'static str,
    /// The version they upcast.
    pub from: u32,
    /// Each function's path and where it is declared
    /// (`file:line:column`).
    pub functions: Vec<(&'static str, String)>,
}

/// A version of a versioned event type that no upcaster upcasts.
#[derive(Debug, Clone)]
pub struct MissingUpcaster {
    /// The stored type name.
    pub event_type: &'static str,
    /// The Rust type's path.
    pub rust_type: &'static str,
    /// The version with no upcaster to the next.
    pub from: u32,
}

/// The registry is inconsistent: some stored type names are claimed twice,
/// or some versions of versioned types have no upcaster or several.
#[derive(Debug, Clone, thiserror::Error)]
pub struct RegistryError {
    /// Every duplicated name.
    pub duplicates: Vec<Duplicate>,
    /// Every version with more than one upcaster.
    pub duplicate_upcasters: Vec<DuplicateUpcaster>,
    /// Every version with no upcaster.
    pub missing_upcasters: Vec<MissingUpcaster>,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut problems = Vec::new();
        if !self.duplicates.is_empty() {
            let mut text = String::from("event type names claimed by more than one Rust type:");
            for duplicate in &self.duplicates {
                let _ = write!(text, "\n  {:?} by", duplicate.event_type);
                for (rust_type, declared_at) in &duplicate.claimed_by {
                    let _ = write!(text, " {rust_type} ({declared_at})");
                }
            }
            text.push_str("\ngive each a distinct name with #[event(name = \"...\")]");
            problems.push(text);
        }
        if !self.missing_upcasters.is_empty() {
            let mut text = String::from("versions of event types with no upcaster:");
            for missing in &self.missing_upcasters {
                let (from, rust_type) = (missing.from, missing.rust_type);
                let short = rust_type.rsplit("::").next().unwrap_or(rust_type);
                let _ = write!(
                    text,
                    "\n  {} version {from} → {} ({rust_type}): add #[upcast({short}, from = {from})] to a function",
                    missing.event_type,
                    from + 1,
                );
            }
            problems.push(text);
        }
        if !self.duplicate_upcasters.is_empty() {
            let mut text = String::from("versions of event types with more than one upcaster:");
            for duplicate in &self.duplicate_upcasters {
                let _ = write!(
                    text,
                    "\n  {} version {} → {} by",
                    duplicate.event_type,
                    duplicate.from,
                    duplicate.from + 1
                );
                for (function, declared_at) in &duplicate.functions {
                    let _ = write!(text, " {function} ({declared_at})");
                }
            }
            text.push_str("\nkeep one upcaster per version");
            problems.push(text);
        }
        f.write_str(&problems.join("\n"))
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
