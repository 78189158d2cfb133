//! Macros that turn annotated Rust types into DCB events and decisions.
//!
//! Use them through `dcb_core`, which re-exports them next to the traits
//! they implement:
//!
//! - `#[derive(Id)]`: a typed identifier whose values render as tags
//!   (`course:<uuid>`), see `dcb_core::Identifier`;
//! - `#[derive(Event)]`: a domain event with a type name, tags from
//!   `#[tag]` fields and an encoding, see `dcb_core::DomainEvent`;
//! - `#[decision]`: on a state struct with `#[boundary]` id fields and on an
//!   impl block of handlers, a projection whose query and append condition
//!   are derived, see `dcb_core::Projection`.
//!
//! Each macro is a thin entry point over a function from
//! `proc_macro2::TokenStream` to `TokenStream`, so that its expansion can be
//! tested without a compiler.

mod attr;
mod ctxt;
mod decision;
mod event;
mod id;
mod symbol;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Derives `dcb_core::Identifier` (and `Display`, `FromStr`, serde) for a
/// one-field tuple struct of a `Uuid`, an integer or a `String`.
///
/// The tag prefix defaults to the type's name without an `Id` suffix, in
/// snake case; set it with `#[id(prefix = "...")]`. See `dcb_core::id` for
/// an example.
#[proc_macro_derive(Id, attributes(id))]
pub fn derive_id(input: TokenStream) -> TokenStream {
    id::derive(input.into()).into()
}

/// Derives `dcb_core::DomainEvent` for a struct: the stored type name (the
/// struct's name, or `#[event(name = "...")]`), tags from `#[tag]` fields
/// (`#[tag(prefix = "...")]` overrides a field's prefix), and the encoding
/// (JSON, or `#[event(codec = Path)]`). The type is registered in
/// `dcb_core::registry`. See `dcb_core::domain` for an example.
#[proc_macro_derive(Event, attributes(event, tag))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    event::derive(input.into()).into()
}

/// Declares a decision's projection.
///
/// - On a struct: the state, whose `#[boundary]` fields are the typed ids
///   every event it reads is tagged with. Generates `new(ids…)` and
///   `dcb_core::Boundary`.
/// - On an impl block of that struct: the handlers, `fn(&mut self, event:
///   &E)`, one event type each. Generates `dcb_core::Projection`: the query
///   (handled types × boundary tags), the fold, and the append condition;
///   `#[no_conflict]` on a handler keeps its event type out of the
///   condition. A handled event without a boundary tag is a compile error.
///
/// See `dcb_core::decide` for an example.
#[proc_macro_attribute]
pub fn decision(args: TokenStream, item: TokenStream) -> TokenStream {
    decision::attribute(&args.into(), item.into()).into()
}
