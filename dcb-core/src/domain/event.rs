//! Domain events: plain Rust types that become stored [`EventRecord`](struct@crate::EventRecord)s.
//!
//! `#[derive(Event)]` implements [`Event`] from annotations: the type
//! name, the tags from `#[tag]` fields, the encoding.
//!
//! ```
//! use dcb_core::{Event, Id};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
//! struct CourseId(dcb_core::Uuid);
//!
//! #[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
//! struct CourseRegistered {
//!     #[tag]
//!     course_id: CourseId,
//!     name: String,
//!     places: u32,
//! }
//!
//! let course_id = CourseId::new();
//! let registered = CourseRegistered { course_id, name: "Maths".into(), places: 5 };
//! let event = registered.to_event()?;
//! assert_eq!(event.event_type(), "CourseRegistered");
//! assert!(event.tags().contains(&format!("course:{course_id}")));
//! # Ok::<(), dcb_core::EncodeError>(())
//! ```

use crate::domain::codec::CodecError;
use crate::domain::versioning::VersionError;
use crate::{EventRecord, EventType, Identifier, Position, SequencedEvent, Tags};

/// A domain event: a Rust type with a stable event type name, tags, and an
/// encoding. Implemented by `#[derive(Event)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event",
    label = "not an event",
    note = "derive it: `#[derive(Event, Serialize, Deserialize)]` on `{Self}`"
)]
pub trait Event: Sized + Send + Sync + 'static {
    /// The stored type name, such as `CourseRegistered`. The same for every
    /// version of the type.
    const NAME: &'static str;
    /// The version of the type's shape, from `#[event(version = N)]`: 1
    /// unless the type changed after events of it were stored. Data stored
    /// at an older version is upcast on decoding (see
    /// [`versioning`](crate::domain::versioning)).
    const VERSION: u32 = 1;
    /// [`NAME`](Self::NAME) as an [`EventType`].
    const EVENT_TYPE: EventType = EventType::from_static(Self::NAME);

    /// The tags of this event, from its `#[tag]` fields.
    fn tags(&self) -> Tags;

    /// Encodes the event's data.
    fn encode(&self) -> Result<Vec<u8>, CodecError>;

    /// Decodes data written by [`encode`](Self::encode), by this version
    /// of the type or, for a versioned type, by an older one.
    fn decode(data: &[u8]) -> Result<Self, CodecError>;

    /// The stored form: type, encoded data and tags.
    fn to_event(&self) -> Result<EventRecord, EncodeError> {
        let data = self.encode().map_err(|cause| EncodeError {
            event_type: Self::NAME,
            cause,
        })?;
        Ok(EventRecord::new(Self::EVENT_TYPE, data).with_tags(self.tags()))
    }

    /// Decodes a stored event of this type.
    fn from_event(event: &SequencedEvent) -> Result<Self, DecodeError> {
        if event.event_type().as_str() != Self::NAME {
            return Err(DecodeError {
                event_type: event.event_type().clone(),
                position: event.position,
                cause: format!("expected an event of type {}", Self::NAME).into(),
            });
        }
        Self::decode(event.data()).map_err(|cause| DecodeError {
            event_type: Self::EVENT_TYPE,
            position: event.position,
            cause,
        })
    }
}

/// Proof that every event of type `Self` carries a tag of id type `I`, with
/// `I`'s own prefix: what a `#[decision]` whose boundary includes an `I`
/// demands of each event type it handles, since its query selects only the
/// events tagged with its `I`.
///
/// `#[derive(Event)]` implements it once for each type `I` of its plain
/// `#[tag]` fields: one id, with its type's prefix. Several such fields of
/// one type (a username change tagged with the old and the new name) are
/// several tags of one kind, and one implementation. An `Option<I>` or a
/// `Vec<I>` field may hold no id, and a field with `#[tag(prefix = "...")]`
/// has a tag of another kind, so they give none.
///
/// `I` is an [`Identifier`] wherever the trait means something; it is not
/// bounded here so that a `#[tag]` field of another type is reported once,
/// as "not an identifier", rather than once more for this impl.
///
/// # Implementing it by hand
///
/// Implement it only if every event of type `Self`, whatever its data,
/// carries a tag of `I` with `I::PREFIX`: for example through a `#[tag]`
/// field of a type of your own that always holds an `I` (see
/// [`TagField`]). A decision then handles `Self` and reads its events by
/// that tag. An event that may lack the tag (an empty `Vec`) must not
/// implement it: the decision's query would not select such an event, and
/// its handler would silently not run for it.
///
/// ```
/// use dcb_core::{Event, HasTag, Id, TagField, decision};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct CartId(dcb_core::Uuid);
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct ProductId(dcb_core::Uuid);
///
/// #[derive(Serialize, Deserialize)]
/// struct CartLine {
///     product_id: ProductId,
///     quantity: u32,
/// }
///
/// impl TagField for CartLine {
///     type Id = ProductId;
///
///     fn for_each_id(&self, mut f: impl FnMut(&ProductId)) {
///         f(&self.product_id);
///     }
/// }
///
/// #[derive(Event, Serialize, Deserialize)]
/// struct ProductAddedToCart {
///     #[tag]
///     cart_id: CartId,
///     #[tag]
///     line: CartLine,
/// }
///
/// // A line always names one product, so every `ProductAddedToCart` carries
/// // a product's tag.
/// impl HasTag<ProductId> for ProductAddedToCart {}
///
/// /// How many of a product the carts hold.
/// #[decision]
/// struct Reserved {
///     #[boundary]
///     product_id: ProductId,
///     quantity: u32,
/// }
///
/// #[decision]
/// impl Reserved {
///     fn added(&mut self, event: &ProductAddedToCart) {
///         self.quantity += event.line.quantity;
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not carry a `{I}` tag, so this decision cannot see it",
    label = "this event has no `#[tag]` field of type `{I}`",
    note = "a decision reads only the events tagged with each of its boundary ids: add a `#[tag]` field of type `{I}` to `{Self}`, or handle `{Self}` in a decision without that boundary",
    note = "an `Option<{I}>` or `Vec<{I}>` field does not count, as it may hold no id; nor does a field with its own `#[tag(prefix = \"...\")]`, as its tag is another one"
)]
pub trait HasTag<I>: Event {}

/// Proof that `Self` carries a tag of each id type in the tuple `Ids`; the
/// check a `#[decision]` makes for each handled event.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not carry every boundary tag `{Ids}` of this decision",
    label = "this event lacks a boundary tag",
    note = "a decision reads only the events tagged with each of its boundary ids: add a `#[tag]` field of each id type in `{Ids}` to `{Self}`, or handle `{Self}` in a decision without that boundary"
)]
pub trait HasTags<Ids> {}

impl<E: Event> HasTags<()> for E {}

macro_rules! has_tags_for_tuples {
    ($($id:ident),+) => {
        impl<E, $($id: Identifier),+> HasTags<($($id,)+)> for E where E: $(HasTag<$id> +)+ {}
    };
}

has_tags_for_tuples!(A);
has_tags_for_tuples!(A, B);
has_tags_for_tuples!(A, B, C);
has_tags_for_tuples!(A, B, C, D);
has_tags_for_tuples!(A, B, C, D, F);
has_tags_for_tuples!(A, B, C, D, F, G);

/// A field that can be `#[tag]`ged: the ids it holds, each of which
/// becomes a tag of the event (`prefix:value`, with the prefix of the id
/// type or the one the field is given).
///
/// Implemented for every [`Identifier`] (one id), for `Option<T>` (the ids
/// of `T`, if any) and for `Vec<T>` (those of each element) of any
/// `TagField` `T`.
///
/// # Nested data
///
/// Implement it for a type of your own whose values hold ids, so that a
/// `#[tag]` field of that type, or an `Option` or `Vec` of it, tags the
/// event with them. An implementation must call `f` with every id the value
/// holds, and only with those: the event's tags are exactly these ids, and
/// a query by an id selects the event only if `f` was called with it.
///
/// Each line of a cart names a product, so a checkout is tagged with every
/// product in it:
///
/// ```
/// use dcb_core::{Event, Id, Identifier, TagField, Tags};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct CartId(dcb_core::Uuid);
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct ProductId(dcb_core::Uuid);
///
/// #[derive(Serialize, Deserialize)]
/// struct CartLine {
///     product_id: ProductId,
///     quantity: u32,
/// }
///
/// impl TagField for CartLine {
///     type Id = ProductId;
///
///     fn for_each_id(&self, mut f: impl FnMut(&ProductId)) {
///         f(&self.product_id);
///     }
/// }
///
/// #[derive(Event, Serialize, Deserialize)]
/// struct CartCheckedOut {
///     #[tag]
///     cart_id: CartId,
///     #[tag]
///     lines: Vec<CartLine>,
/// }
///
/// let (cart_id, pen, ink) = (CartId::new(), ProductId::new(), ProductId::new());
/// let lines = vec![
///     CartLine { product_id: pen, quantity: 1 },
///     CartLine { product_id: ink, quantity: 3 },
/// ];
/// let tags = CartCheckedOut { cart_id, lines }.tags();
/// assert_eq!(tags, Tags::from([cart_id.tag(), pen.tag(), ink.tag()]));
/// ```
///
/// A decision with a `ProductId` boundary can handle such an event only
/// where every event of its type carries a product's tag: see [`HasTag`].
#[diagnostic::on_unimplemented(
    message = "`#[tag]` needs an identifier, and `{Self}` is not one",
    label = "not an identifier",
    note = "declare the id type with `#[derive(Id)]`; a tag field may also be an `Option` or a `Vec` of ids, or of a type of yours that implements `TagField` to give the ids it holds"
)]
pub trait TagField {
    /// The id type.
    type Id: Identifier;

    /// Calls `f` with each id the field holds.
    fn for_each_id(&self, f: impl FnMut(&Self::Id));
}

impl<I: Identifier> TagField for I {
    type Id = I;

    fn for_each_id(&self, mut f: impl FnMut(&I)) {
        f(self);
    }
}

impl<T: TagField> TagField for Option<T> {
    type Id = T::Id;

    fn for_each_id(&self, f: impl FnMut(&T::Id)) {
        if let Some(field) = self {
            field.for_each_id(f);
        }
    }
}

impl<T: TagField> TagField for Vec<T> {
    type Id = T::Id;

    fn for_each_id(&self, mut f: impl FnMut(&T::Id)) {
        for field in self {
            field.for_each_id(&mut f);
        }
    }
}

/// What a decision may return: no event (`()`), one event, a tuple of
/// events of different types, a `Vec` or `Option` of events, or one of
/// several outcomes, each with its events: an enum with
/// `#[derive(IntoEvents)]`.
///
/// ```
/// use dcb_core::{Event, EventRecord, IntoEvents};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Event, Serialize, Deserialize)]
/// struct InvoicePaid {
///     cents: u64,
/// }
///
/// #[derive(Event, Serialize, Deserialize)]
/// struct InvoiceOverpaid {
///     cents: u64,
/// }
///
/// #[derive(IntoEvents)]
/// enum Payment {
///     Paid(InvoicePaid),
///     Overpaid((InvoicePaid, InvoiceOverpaid)),
/// }
///
/// let mut out: Vec<EventRecord> = Vec::new();
/// Payment::Overpaid((InvoicePaid { cents: 100 }, InvoiceOverpaid { cents: 5 })).into_events(&mut out)?;
/// Payment::Paid(InvoicePaid { cents: 40 }).into_events(&mut out)?;
/// let types: Vec<&str> = out.iter().map(|event| event.event_type().as_str()).collect();
/// assert_eq!(types, ["InvoicePaid", "InvoiceOverpaid", "InvoicePaid"]);
/// # Ok::<(), dcb_core::EncodeError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event, nor events",
    label = "not events",
    note = "if `{Self}` is an event, derive it: `#[derive(Event, Serialize, Deserialize)]` on `{Self}`",
    note = "a command returns one event, an `Option`, a `Vec` or a tuple of events, `()` for none, or an enum of outcomes with `#[derive(IntoEvents)]` whose variants each hold one of these"
)]
pub trait IntoEvents {
    /// Encodes the events onto `out`, in order.
    fn into_events(self, out: &mut Vec<EventRecord>) -> Result<(), EncodeError>;
}

impl IntoEvents for () {
    fn into_events(self, _: &mut Vec<EventRecord>) -> Result<(), EncodeError> {
        Ok(())
    }
}

impl<E: Event> IntoEvents for E {
    fn into_events(self, out: &mut Vec<EventRecord>) -> Result<(), EncodeError> {
        out.push(self.to_event()?);
        Ok(())
    }
}

impl<E: Event> IntoEvents for Option<E> {
    fn into_events(self, out: &mut Vec<EventRecord>) -> Result<(), EncodeError> {
        self.map_or(Ok(()), |e| e.into_events(out))
    }
}

impl<E: Event> IntoEvents for Vec<E> {
    fn into_events(self, out: &mut Vec<EventRecord>) -> Result<(), EncodeError> {
        out.reserve(self.len());
        self.into_iter().try_for_each(|e| e.into_events(out))
    }
}

macro_rules! into_events_for_tuples {
    ($($e:ident),+) => {
        impl<$($e: IntoEvents),+> IntoEvents for ($($e,)+) {
            #[allow(non_snake_case)]
            fn into_events(self, out: &mut Vec<EventRecord>) -> Result<(), EncodeError> {
                let ($($e,)+) = self;
                $($e.into_events(out)?;)+
                Ok(())
            }
        }
    };
}

into_events_for_tuples!(A);
into_events_for_tuples!(A, B);
into_events_for_tuples!(A, B, C);
into_events_for_tuples!(A, B, C, D);
into_events_for_tuples!(A, B, C, D, F);
into_events_for_tuples!(A, B, C, D, F, G);

/// A domain event that could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode event {event_type}: {cause}")]
pub struct EncodeError {
    /// The event's type name.
    pub event_type: &'static str,
    /// The codec's error.
    #[source]
    pub cause: CodecError,
}

/// A stored event that could not be decoded into its domain type.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot decode event {event_type} at position {position}: {cause}{}",
    hint(cause)
)]
pub struct DecodeError {
    /// The stored event's type.
    pub event_type: EventType,
    /// Where it is stored.
    pub position: Position,
    /// The codec's error.
    #[source]
    pub cause: CodecError,
}

/// What to check when data does not fit its type; nothing when the
/// versioning error says it already.
fn hint(cause: &CodecError) -> &'static str {
    if cause.is::<VersionError>() {
        ""
    } else {
        "; the stored data does not fit the type (was the type changed without a new \
         `#[event(version = N)]` and an upcaster?)"
    }
}
