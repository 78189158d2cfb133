//! Event versioning: events whose shape changes over the years, and the
//! upcasters that turn their stored older versions into the current one.
//!
//! An event type declares its version with `#[event(version = N)]` (1 when
//! not given). The version is stored **inside the data**, not in the type
//! name, so queries and decisions select every version of a type alike:
//!
//! - at version 1 the data is encoded as it always was, with no version in
//!   it; a type can therefore be versioned later without touching the events
//!   already stored;
//! - at version N ≥ 2 the JSON object carries a reserved first member
//!   `"_version": N`. Versioning needs the JSON codec, and an event whose
//!   JSON is not an object cannot carry it ([`VersionError::NotAnObject`]).
//!
//! Decoding reads the stored version (no `_version` member means 1), applies
//! the registered [`Upcaster`]s one version at a time up to the type's
//! current version, removes the `_version` member, and deserializes the
//! result. Upcasters are functions marked `#[upcast(Type, from = N)]`
//! (`dcb_core::upcast`), registered through `inventory`;
//! [`registry::validate()`](crate::domain::registry::validate) reports a missing or
//! duplicated one at startup, and decoding reports it for the event at hand.
//!
//! ```standalone_crate
//! use dcb_core::{Event, registry, upcast};
//! use serde::{Deserialize, Serialize};
//! use serde_json::{Value, json};
//!
//! /// Version 1 stored `{"name": "Ada Lovelace"}`; version 2 splits it.
//! #[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
//! #[event(version = 2)]
//! struct StudentRegistered {
//!     first_name: String,
//!     last_name: String,
//! }
//!
//! #[upcast(StudentRegistered, from = 1)]
//! fn split_name(mut data: Value) -> Value {
//!     let name = data["name"].take();
//!     let (first, last) = name.as_str().unwrap_or_default().split_once(' ').unwrap_or_default();
//!     json!({ "first_name": first, "last_name": last })
//! }
//!
//! registry::validate()?;
//! let ada = StudentRegistered { first_name: "Ada".into(), last_name: "Lovelace".into() };
//! // Stored by version 1 of the program:
//! assert_eq!(StudentRegistered::decode(br#"{"name":"Ada Lovelace"}"#)?, ada);
//! // Stored now:
//! let data = ada.encode()?;
//! assert_eq!(data, br#"{"_version":2,"first_name":"Ada","last_name":"Lovelace"}"#);
//! assert_eq!(StudentRegistered::decode(&data)?, ada);
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```

use std::fmt;
use std::panic::Location;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Event;
use crate::domain::codec::CodecError;

/// The reserved member of a versioned event's JSON object that holds its
/// version.
pub const VERSION_MEMBER: &str = "_version";

/// A function that turns the stored data of one version of an event type
/// into the data of the next version: what `#[upcast]` submits to the
/// registry, made by [`Upcaster::of`].
#[derive(Debug)]
pub struct Upcaster {
    /// The stored type name of the event ([`Event::NAME`]).
    pub event_type: &'static str,
    /// The version the function reads; it returns version `from + 1`.
    pub from: u32,
    /// The function's path, for messages.
    pub function: &'static str,
    /// Where the function is registered: its `#[upcast]`.
    pub declared_at: &'static Location<'static>,
    /// The function, its result made uniform: an error is its message.
    pub upcast: fn(Value) -> Result<Value, String>,
}

impl Upcaster {
    /// The upcaster of the event type named `event_type` from version
    /// `from`: `upcast`, which calls the function at the path `function`,
    /// declared where this is called. `#[upcast]` submits one for each
    /// upcaster.
    #[must_use]
    #[track_caller]
    pub const fn of(
        event_type: &'static str,
        from: u32,
        function: &'static str,
        upcast: fn(Value) -> Result<Value, String>,
    ) -> Self {
        Upcaster {
            event_type,
            from,
            function,
            declared_at: Location::caller(),
            upcast,
        }
    }
}

inventory::collect!(Upcaster);

/// Every registered upcaster, in no particular order.
pub fn upcasters() -> impl Iterator<Item = &'static Upcaster> {
    inventory::iter::<Upcaster>.into_iter()
}

/// What an upcaster function may return: the data at the next version, or
/// a `Result` of it whose error says why the data cannot be upcast.
#[diagnostic::on_unimplemented(
    message = "an upcaster cannot return `{Self}`",
    label = "not the data at the next version",
    note = "an upcaster returns `serde_json::Value`, or `Result<serde_json::Value, E>` where `E: Display`"
)]
pub trait UpcastOutput {
    /// The data, or the error's message.
    fn into_result(self) -> Result<Value, String>;
}

impl UpcastOutput for Value {
    fn into_result(self) -> Result<Value, String> {
        Ok(self)
    }
}

impl<E: fmt::Display> UpcastOutput for Result<Value, E> {
    fn into_result(self) -> Result<Value, String> {
        self.map_err(|err| err.to_string())
    }
}

/// Encodes a versioned event as JSON with its version: the object
/// `serde_json` writes for `event`, with `"_version": E::VERSION` as its
/// first member. At version 1 it is plain JSON, as [`Json`](crate::domain::codec::Json)
/// writes it. `#[derive(Event)]` calls it for `#[event(version = N)]`.
pub fn encode<E: Event + Serialize>(event: &E) -> Result<Vec<u8>, CodecError> {
    let json = serde_json::to_vec(event)?;
    if E::VERSION == 1 {
        return Ok(json);
    }
    // serde_json writes an object as `{` then its members, so the version is
    // spliced in as the first member, without building a `Value`.
    let Some((b'{', members)) = json.split_first() else {
        return Err(VersionError::NotAnObject {
            event_type: E::NAME,
            version: E::VERSION,
            found: kind_of_json(&json),
        }
        .into());
    };
    let version = E::VERSION.to_string();
    let mut data = Vec::with_capacity(json.len() + VERSION_MEMBER.len() + version.len() + 4);
    data.extend_from_slice(b"{\"");
    data.extend_from_slice(VERSION_MEMBER.as_bytes());
    data.extend_from_slice(b"\":");
    data.extend_from_slice(version.as_bytes());
    if members != b"}" {
        data.push(b',');
    }
    data.extend_from_slice(members);
    Ok(data)
}

/// Decodes a versioned event's JSON data, upcasting it from the version it
/// was stored at to `E::VERSION`. `#[derive(Event)]` calls it for
/// `#[event(version = N)]`.
pub fn decode<E: Event + DeserializeOwned>(data: &[u8]) -> Result<E, CodecError> {
    if E::VERSION == 1 {
        return Ok(serde_json::from_slice(data)?);
    }
    let value = upcast::<E>(serde_json::from_slice(data)?)?;
    Ok(serde_json::from_value(value)?)
}

/// Upcasts the stored JSON of an event of type `E` to `E::VERSION`, without
/// the `_version` member.
pub fn upcast<E: Event>(mut value: Value) -> Result<Value, VersionError> {
    let stored = take_version::<E>(&mut value)?;
    if stored > E::VERSION {
        return Err(VersionError::Newer {
            event_type: E::NAME,
            stored,
            current: E::VERSION,
        });
    }
    for from in stored..E::VERSION {
        let upcaster = find::<E>(from)?;
        value = (upcaster.upcast)(value).map_err(|message| VersionError::Failed {
            event_type: E::NAME,
            from,
            function: upcaster.function,
            message,
        })?;
    }
    Ok(value)
}

/// Removes the `_version` member of `value` and returns it; 1 if absent.
fn take_version<E: Event>(value: &mut Value) -> Result<u32, VersionError> {
    let Some(member) = value
        .as_object_mut()
        .and_then(|object| object.remove(VERSION_MEMBER))
    else {
        return Ok(1);
    };
    member
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n >= 1)
        .ok_or_else(|| VersionError::InvalidVersion {
            event_type: E::NAME,
            found: member.to_string(),
        })
}

/// The one upcaster of `E` from version `from`.
fn find<E: Event>(from: u32) -> Result<&'static Upcaster, VersionError> {
    let mut found = upcasters().filter(|u| u.event_type == E::NAME && u.from == from);
    let Some(first) = found.next() else {
        return Err(VersionError::Missing {
            event_type: E::NAME,
            rust_type: short_type_name::<E>(),
            from,
        });
    };
    let others: Vec<String> = found.map(|u| u.declared_at.to_string()).collect();
    if others.is_empty() {
        Ok(first)
    } else {
        Err(VersionError::Ambiguous {
            event_type: E::NAME,
            from,
            declared_at: std::iter::once(first.declared_at.to_string())
                .chain(others)
                .collect(),
        })
    }
}

/// The last segment of `E`'s path, as a user names it in `#[upcast]`.
fn short_type_name<E>() -> &'static str {
    let name = std::any::type_name::<E>();
    name.rsplit("::").next().unwrap_or(name)
}

/// What a JSON text is, for the error of an event that is not an object.
fn kind_of_json(json: &[u8]) -> &'static str {
    match json.first() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        _ => "a number",
    }
}

/// Why a versioned event could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// No upcaster is registered for a version the stored data is at.
    #[error(
        "no upcaster for {event_type} version {from} → {}: add \
         `#[upcast({rust_type}, from = {from})]` to a function that turns the data of \
         version {from} into that of version {}",
        from + 1,
        from + 1
    )]
    Missing {
        /// The stored type name.
        event_type: &'static str,
        /// The Rust type's name, as `#[upcast]` takes it.
        rust_type: &'static str,
        /// The version with no upcaster.
        from: u32,
    },
    /// Several upcasters are registered for one version.
    #[error(
        "{} upcasters for {event_type} version {from} → {} ({}): keep one",
        declared_at.len(),
        from + 1,
        declared_at.join(", ")
    )]
    Ambiguous {
        /// The stored type name.
        event_type: &'static str,
        /// The version they all upcast.
        from: u32,
        /// Where each is declared (`file:line:column`).
        declared_at: Vec<String>,
    },
    /// The data was stored at a version newer than this program's type.
    #[error(
        "{event_type} was stored at version {stored}, newer than version {current} \
         of this program: it was written by a newer version of the program, which \
         this one cannot read"
    )]
    Newer {
        /// The stored type name.
        event_type: &'static str,
        /// The version in the data.
        stored: u32,
        /// The type's version here.
        current: u32,
    },
    /// The `_version` member is not a version number.
    #[error("{event_type} has `\"_version\": {found}`, which is not a version number (1 or more)")]
    InvalidVersion {
        /// The stored type name.
        event_type: &'static str,
        /// The member's value, as JSON.
        found: String,
    },
    /// An upcaster returned an error.
    #[error("the upcaster {function} of {event_type} version {from} → {} failed: {message}", from + 1)]
    Failed {
        /// The stored type name.
        event_type: &'static str,
        /// The version it upcasts.
        from: u32,
        /// The function's path.
        function: &'static str,
        /// Its error's message.
        message: String,
    },
    /// A versioned event's JSON is not an object, so it cannot carry a
    /// `_version` member.
    #[error(
        "{event_type} at version {version} must serialize as a JSON object, to carry its \
         version in a `\"_version\"` member, but it serializes as {found}"
    )]
    NotAnObject {
        /// The stored type name.
        event_type: &'static str,
        /// The type's version.
        version: u32,
        /// What it serializes as (`an array`, `a string`…).
        found: &'static str,
    },
}
