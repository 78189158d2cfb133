//! Macros that turn annotated Rust types into DCB events and decisions.
//!
//! Use them through `dcb_core`, which re-exports them next to the traits
//! they implement:
//!
//! - `#[derive(Id)]`: a typed identifier whose values render as tags
//!   (`course:<uuid>`), see `dcb_core::Identifier`;
//! - `#[derive(Event)]`: a domain event with a type name, tags from
//!   `#[tag]` fields and an encoding, see `dcb_core::Event`;
//! - `#[derive(IntoEvents)]`: an enum whose variants each hold the events
//!   of one outcome of a command, see `dcb_core::IntoEvents`;
//! - `#[upcast]`: on a function, the upcaster of a versioned event from
//!   one version to the next, see `dcb_core::versioning`;
//! - `#[decision]`: on a state struct with `#[boundary]` id fields and on an
//!   impl block of handlers, a projection whose query and append condition
//!   are derived, see `dcb_core::Projection`;
//! - `#[read_model]`: on an impl block of handlers, a read model whose
//!   query is derived, see `dcb_core::read_model::ReadModel`.
//!
//! Each macro is a thin entry point over a function from
//! `proc_macro2::TokenStream` to `TokenStream`, so that its expansion can be
//! tested without a compiler: `src/tests/` expands fixtures and compares
//! them with the committed `tests/snapshots/`, which show what the macros
//! generate.

mod attr;
mod ctxt;
mod decision;
mod event;
mod handler;
mod id;
mod into_events;
mod read_model;
mod symbol;
mod versioning;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Derives `dcb_core::Identifier` for a typed id: a tuple struct with one
/// field, a `Uuid`, an integer or a `String`, whose values render as tags
/// `prefix:value`.
///
/// Besides `Identifier`, the derive implements `Display` and `FromStr` (the
/// bare value, without the prefix), serde's `Serialize` and `Deserialize`
/// (the bare value, as the field would be), and constructors that depend on
/// the field:
///
/// | field | constructors and accessor |
/// |---|---|
/// | `Uuid` | `new()`, a random (v4) id; `uuid()` |
/// | an integer (`u8` … `u128`, `i8` … `i128`, `usize`, `isize`) | `new(n)`; `get()` |
/// | `String` | `new(text)`, which checks the text and returns a `Result`; `as_str()` |
///
/// Derive `Clone, PartialEq, Eq, Hash, Debug` next to `Id` (and `Copy` where
/// the field is `Copy`): `Identifier` requires them, and the derive leaves
/// the choice of `Copy` to you.
///
/// # The tag prefix
///
/// The prefix defaults to the type's name without an `Id` suffix, in snake
/// case: `CourseId` → `course`, `StudentAccountId` → `student_account`. Set
/// it with `#[id(prefix = "...")]`: 1 to 63 bytes, without `:` or control
/// characters, checked at compile time. Every stored tag starts with it, so
/// changing it later hides the events already stored from new queries.
///
/// # Examples
///
/// A UUID id, the usual kind:
///
/// ```
/// use dcb_core::{Id, Identifier};
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct CourseId(dcb_core::Uuid);
///
/// let id = CourseId::new();
/// assert_eq!(CourseId::PREFIX, "course");
/// assert_eq!(id.tag().as_str(), format!("course:{}", id.uuid()));
/// assert_eq!(id.to_string().parse::<CourseId>()?, id);
/// assert_eq!(serde_json::to_string(&id)?, format!("\"{}\"", id.uuid()));
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
///
/// An integer id with its own prefix:
///
/// ```
/// use dcb_core::{Id, Identifier};
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// #[id(prefix = "room")]
/// struct RoomNumber(u16);
///
/// let room = RoomNumber::new(101);
/// assert_eq!(room.get(), 101);
/// assert_eq!(room.tag().as_str(), "room:101");
/// assert_eq!("101".parse::<RoomNumber>()?, room);
/// assert!("1o1".parse::<RoomNumber>().is_err());
/// # Ok::<(), dcb_core::ParseIdError>(())
/// ```
///
/// A string id. Its text is checked whenever a value is made — by `new`,
/// `parse` or deserialization: not empty, at most
/// `dcb_core::MAX_STRING_ID_LEN` bytes, no control characters. The field
/// must be private, so that no value skips the check.
///
/// ```
/// use dcb_core::{Id, Identifier};
///
/// #[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
/// struct StudentAccountId(String);
///
/// let account = StudentAccountId::new("ada.lovelace")?;
/// assert_eq!(account.as_str(), "ada.lovelace");
/// assert_eq!(account.tag().as_str(), "student_account:ada.lovelace");
/// assert!(StudentAccountId::new("").is_err());
/// assert!("tab\there".parse::<StudentAccountId>().is_err());
/// assert!(serde_json::from_str::<StudentAccountId>("\"\"").is_err());
/// # Ok::<(), dcb_core::ParseIdError>(())
/// ```
#[proc_macro_derive(Id, attributes(id))]
pub fn derive_id(input: TokenStream) -> TokenStream {
    id::derive(input.into()).into()
}

/// Derives `dcb_core::Event` for a struct: an event of the domain, with
/// a stored type name, tags from its `#[tag]` fields, and an encoding.
///
/// # The type name
///
/// The stored type name is the struct's name, or the one given with
/// `#[event(name = "...")]`. The store keeps the name, not the Rust type: pin
/// it with `name` before renaming a struct whose events are already stored,
/// and raise the version of an event whose shape changes (see Versions
/// below) rather than giving it a new name, which queries of the old name
/// would not select.
///
/// # Tags
///
/// A `#[tag]` field holds typed ids (`#[derive(Id)]`), and each id becomes a
/// tag `prefix:value`:
///
/// - `course_id: CourseId` gives one tag, `course:<id>`;
/// - `room: Option<RoomNumber>` gives none or one;
/// - `teacher_ids: Vec<TeacherId>` gives one per id;
/// - `lines: Vec<CartLine>` gives the ids each line holds, for a type of
///   yours that implements `dcb_core::TagField` (see its docs): tags from
///   nested data;
/// - `#[tag(prefix = "...")]` replaces the id type's prefix for this field.
///
/// Several fields of one id type are several tags of one kind: a username
/// change with `#[tag] old: Username` and `#[tag] new: Username` carries
/// both `username:` tags, so a decision about either name reads it — the
/// old name is freed, the new one taken. Do not give one of them a prefix of
/// its own: its tag would be another kind, which no decision about a
/// username reads.
///
/// Otherwise a prefix names one kind of tag, or a query could not tell them
/// apart, and the compiler says where two collide: two id types with one
/// prefix (give one of the types another with `#[id(prefix = "...")]`), or
/// a prefix given with `#[tag(prefix = "...")]` that another field has too.
///
/// A plain `#[tag]` field, one id with its type's own prefix, also promises
/// that every event of the type carries that id's tag
/// (`dcb_core::HasTag<CourseId>`, once per id type): only such events can be
/// handled by a `#[decision]` whose boundary includes a `CourseId`. An
/// `Option` or a `Vec` may carry no id, and another prefix is another tag,
/// so they promise nothing; where every event does carry an id of nested
/// data (one cart line, always with a product), implement `HasTag` by hand,
/// as its docs show.
///
/// # Encoding
///
/// Events are encoded as JSON through serde, so derive `Serialize` and
/// `Deserialize` too. `#[event(codec = Path)]` picks another codec: a type
/// implementing `dcb_core::codec::Codec`.
///
/// # Registration
///
/// Every event type registers itself in `dcb_core::registry` (through
/// `inventory`), with its name, Rust type and source location: call
/// `dcb_core::registry::validate()` at startup to find two types that claim
/// one name, and use the registry to decode any stored event to JSON.
///
/// # Examples
///
/// A type name that outlives renames, and two tags of one kind: a move
/// concerns both courses, so a decision about either one reads it (one
/// place freed, one taken):
///
/// ```
/// use dcb_core::{Event, HasTag, Id};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct CourseId(dcb_core::Uuid);
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct StudentId(dcb_core::Uuid);
///
/// /// A student left one course for another.
/// #[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
/// #[event(name = "StudentTransferred")]
/// struct StudentMoved {
///     #[tag]
///     student_id: StudentId,
///     #[tag]
///     from: CourseId,
///     #[tag]
///     to: CourseId,
/// }
///
/// let (student_id, from, to) = (StudentId::new(), CourseId::new(), CourseId::new());
/// let moved = StudentMoved { student_id, from, to };
/// let event = moved.to_event()?;
/// assert_eq!(event.event_type(), "StudentTransferred");
/// assert_eq!(event.tags().len(), 3);
/// assert!(event.tags().contains(&format!("student:{student_id}")));
/// assert!(event.tags().contains(&format!("course:{from}")));
/// assert!(event.tags().contains(&format!("course:{to}")));
/// assert_eq!(StudentMoved::decode(event.data())?, moved);
///
/// // A decision with a `CourseId` boundary can handle it.
/// fn on_every_event<E: HasTag<CourseId>>() {}
/// on_every_event::<StudentMoved>();
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
///
/// A tag with a prefix of its own, for a kind of tag no decision about the
/// id type reads (here, the course a lesson was moved from, for an
/// audit's queries):
///
/// ```
/// use dcb_core::{Event, Id};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct CourseId(dcb_core::Uuid);
///
/// #[derive(Event, Serialize, Deserialize)]
/// struct LessonMoved {
///     #[tag]
///     course_id: CourseId,
///     #[tag(prefix = "previous_course")]
///     previous: CourseId,
/// }
///
/// let (course_id, previous) = (CourseId::new(), CourseId::new());
/// let tags = LessonMoved { course_id, previous }.tags();
/// assert!(tags.contains(&format!("course:{course_id}")));
/// assert!(tags.contains(&format!("previous_course:{previous}")));
/// ```
///
/// Optional and repeated tags:
///
/// ```
/// use dcb_core::{Event, HasTag, Id};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct CourseId(dcb_core::Uuid);
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct TeacherId(dcb_core::Uuid);
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// #[id(prefix = "room")]
/// struct RoomNumber(u16);
///
/// #[derive(Event, Serialize, Deserialize)]
/// struct LessonScheduled {
///     #[tag]
///     course_id: CourseId,
///     /// No room for a lesson online.
///     #[tag]
///     room: Option<RoomNumber>,
///     #[tag]
///     teacher_ids: Vec<TeacherId>,
/// }
///
/// let course_id = CourseId::new();
/// let (ada, alan) = (TeacherId::new(), TeacherId::new());
/// let online = LessonScheduled { course_id, room: None, teacher_ids: vec![ada, alan] };
/// assert_eq!(online.tags().len(), 3);
/// assert!(online.tags().contains(&format!("teacher:{alan}")));
/// let in_room = LessonScheduled { course_id, room: Some(RoomNumber::new(7)), teacher_ids: vec![] };
/// assert_eq!(in_room.tags().len(), 2);
/// assert!(in_room.tags().contains("room:7"));
///
/// // Only `course_id` is on every lesson: a decision about one course can
/// // handle `LessonScheduled`, one about a room or a teacher cannot.
/// fn on_every_event<E: HasTag<CourseId>>() {}
/// on_every_event::<LessonScheduled>();
/// ```
///
/// An event about no one thing, with a codec of its own:
///
/// ```
/// use dcb_core::codec::{Codec, CodecError};
/// use dcb_core::Event;
/// use serde::de::DeserializeOwned;
/// use serde::{Deserialize, Serialize};
///
/// /// Indented JSON, for people who read the store in a database console.
/// struct PrettyJson;
///
/// impl Codec for PrettyJson {
///     fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
///         Ok(serde_json::to_vec_pretty(value)?)
///     }
///
///     fn decode<T: DeserializeOwned>(data: &[u8]) -> Result<T, CodecError> {
///         Ok(serde_json::from_slice(data)?)
///     }
/// }
///
/// #[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
/// #[event(codec = PrettyJson)]
/// struct TermStarted {
///     term: u32,
/// }
///
/// let data = TermStarted { term: 3 }.encode()?;
/// assert_eq!(std::str::from_utf8(&data)?, "{\n  \"term\": 3\n}");
/// assert_eq!(TermStarted::decode(&data)?, TermStarted { term: 3 });
/// assert!(TermStarted { term: 3 }.tags().is_empty());
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
/// A versioned event, at version 2:
///
/// ```standalone_crate
/// use dcb_core::Event;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
/// #[event(version = 2)]
/// struct FeePaid {
///     cents: u64,
///     currency: String,
/// }
///
/// assert_eq!(FeePaid::VERSION, 2);
/// let fee = FeePaid { cents: 4200, currency: "EUR".into() };
/// let data = fee.encode()?;
/// assert_eq!(data, br#"{"_version":2,"cents":4200,"currency":"EUR"}"#);
/// assert_eq!(FeePaid::decode(&data)?, fee);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
///
/// (Its upcaster from version 1 is left out here, which
/// `dcb_core::registry::validate()` would report; see `#[upcast]`.)
#[proc_macro_derive(Event, attributes(event, tag))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    event::derive(input.into()).into()
}

/// Derives `dcb_core::IntoEvents` for an enum whose variants each hold the
/// events of one outcome, so that a command may return one of several
/// event types: the decide runner appends whichever the variant holds.
///
/// Each variant has one unnamed field of a type that is itself
/// `IntoEvents`: an event type (`#[derive(Event)]`), an `Option` or a `Vec`
/// of one, a tuple of several, `()` for none, or another such enum.
///
/// The compiler reports a field type that is not an event on that field.
/// Unit variants, variants with named fields or with several fields, and
/// generic enums do not compile, with the error on the variant and what to
/// write instead: `Skipped(())` appends nothing, `Both((A, B))` two events.
///
/// # Examples
///
/// A student joins a course with a free place, or its waiting list:
///
/// ```
/// use dcb_core::testkit::given;
/// use dcb_core::{Event, Id, IntoEvents, decision};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct CourseId(dcb_core::Uuid);
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct StudentId(dcb_core::Uuid);
///
/// #[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
/// struct StudentJoined {
///     #[tag]
///     course_id: CourseId,
///     #[tag]
///     student_id: StudentId,
/// }
///
/// #[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
/// struct StudentWaitlisted {
///     #[tag]
///     course_id: CourseId,
///     #[tag]
///     student_id: StudentId,
/// }
///
/// /// What a request to join comes to.
/// #[derive(IntoEvents)]
/// enum Enrolment {
///     Joined(StudentJoined),
///     Waitlisted(StudentWaitlisted),
/// }
///
/// #[decision]
/// struct Places {
///     #[boundary]
///     course_id: CourseId,
///     taken: u32,
/// }
///
/// #[decision]
/// impl Places {
///     fn joined(&mut self, _: &StudentJoined) {
///         self.taken += 1;
///     }
/// }
///
/// fn join(places: &Places, student_id: StudentId) -> Result<Enrolment, String> {
///     let course_id = places.course_id;
///     Ok(if places.taken < 1 {
///         Enrolment::Joined(StudentJoined { course_id, student_id })
///     } else {
///         Enrolment::Waitlisted(StudentWaitlisted { course_id, student_id })
///     })
/// }
///
/// let (course_id, ada, alan) = (CourseId::new(), StudentId::new(), StudentId::new());
/// given(())
///     .when(Places::new(course_id), |places| join(places, ada))
///     .then(StudentJoined { course_id, student_id: ada });
/// given(StudentJoined { course_id, student_id: ada })
///     .when(Places::new(course_id), |places| join(places, alan))
///     .then(StudentWaitlisted { course_id, student_id: alan });
/// ```
#[proc_macro_derive(IntoEvents)]
pub fn derive_into_events(input: TokenStream) -> TokenStream {
    into_events::derive(input.into()).into()
}

/// Declares a decision's projection: the state a command decides on, and the
/// handlers that fold events into it.
///
/// Put `#[decision]` on the state struct and on one impl block of handlers.
/// Together they implement `dcb_core::Projection`, which `dcb_core::decide`,
/// `dcb_core::Decider` and the test kit (`dcb_core::testkit`) run: read the
/// events the projection's query selects, fold them, let the command decide,
/// append under the projection's condition.
///
/// # The state struct
///
/// A struct with named fields, of three kinds:
///
/// - `#[boundary]` fields are typed ids (`#[derive(Id)]`): the consistency
///   boundary, such as the one course whose places a decision counts;
/// - `#[param]` fields are inputs the decision needs besides its ids and
///   that select nothing, such as the time now or the price a customer was
///   shown: time rules and price checks then live in the handlers;
/// - every other field is state, and starts from its `Default`.
///
/// A struct without a `#[boundary]` field must say that it decides over the
/// whole store, with `#[decision(global)]`; a forgotten or misspelled
/// `#[boundary]` does not compile. The macro generates
///
/// - `new(ids and params…) -> Self`, taking the `#[boundary]` and `#[param]`
///   fields in field order, with the struct's visibility;
/// - `dcb_core::Boundary`: the boundary's id types and tags.
///
/// The attribute takes, on the struct only:
///
/// | attribute | reads |
/// |---|---|
/// | `#[decision]` | every event the query selects |
/// | `#[decision(global)]` | the same, for a state with no boundary: every event of the handled types |
/// | `#[decision(latest)]` | only the latest event the query selects (read backwards, with a limit of one) |
/// | `#[decision(latest = n)]` | only the last `n`, folded oldest first |
///
/// (`global` and `latest` combine: `#[decision(global, latest)]`.) A
/// latest-event decision appends under the same condition as any other —
/// no event its query selects after the read — so "the last invoice's
/// number plus one" stays gapless under concurrency, at the cost of one
/// event read however long the history. It cannot be a member of a
/// composite (which reads every event its members select); the build fails
/// if it is.
///
/// # The handlers
///
/// The impl block holds handlers only, each for one `#[derive(Event)]` type
/// `E`, in one of these forms:
///
/// | handler | receives |
/// |---|---|
/// | `fn name(&mut self, event: &E)` | the decoded event |
/// | `fn name(&mut self, event: &E, position: Position)` | and its position in the store |
/// | `fn name(&mut self, event: &E, stored: &SequencedEvent)` | and the whole stored event (type, tags, data, position) |
///
/// The event may be named `_`; a handler is not `async`, not generic and
/// returns nothing. From the handlers the macro derives
///
/// - the **query**: the handled event types × the boundary tags, that is the
///   events of those types that carry the tag of every boundary id. No
///   hand-written query can drift from the handlers;
/// - the **append condition**: by default the query itself, so that the
///   append fails if any event the decision could have read was appended
///   after its read. `#[no_conflict]` on a handler keeps its event type out
///   of the condition: the decision still reads those events, but one
///   appended meanwhile is no reason to decide again;
/// - the **fold**: each event read is decoded into its type and given to its
///   handler, in the order of the store.
///
/// Other methods of the state go in another impl block. A state struct
/// whose impl block of handlers lacks `#[decision]` does not compile.
///
/// # The command
///
/// `dcb_core::decide(&store, state, command)` runs a decision once;
/// `dcb_core::Decider` runs it with retries. The command is a function of
/// the folded state returning `Result<R, E>`: `E` is the domain's refusal,
/// and `R` is what happens — one event, `()` for nothing, an `Option`, a
/// `Vec` or a tuple of events, an enum deriving `IntoEvents` (one of several
/// event types), or `dcb_core::Returning::new(events, value)` to hand a
/// value back (such as a new invoice's number): `decide` then returns the
/// position with the value.
///
/// # A missing boundary tag is a compile error
///
/// A handled event type must carry the tag of every boundary id, through a
/// plain `#[tag]` field of that id type (see `#[derive(Event)]`): otherwise
/// the query could never select it and the handler would silently never run.
/// The macro asserts it for each handler, and the compiler points at the
/// handler's event type:
///
/// ```text
/// error[E0277]: `CourseCancelled` does not carry a `CourseId` tag, so this decision cannot see it
///    |
///    |     fn cancelled(&mut self, _: &CourseCancelled) {
///    |                                 ^^^^^^^^^^^^^^^ this event has no `#[tag]` field of type `CourseId`
///    |
///    = note: a decision reads only the events tagged with each of its boundary ids: add a
///            `#[tag]` field of type `CourseId` to `CourseCancelled`, or handle `CourseCancelled`
///            in a decision without that boundary
/// ```
///
/// Every handler may not be `#[no_conflict]`: the decision would then
/// depend on nothing it reads, and the macro says so.
///
/// # Composite decisions
///
/// A tuple of projections (up to six) is a projection too: a command that
/// depends on a course and on a student decides on
/// `(CourseState::new(course_id), StudentState::new(student_id))`. It reads
/// once, with the union of the members' queries; folds each event into every
/// member that selects it; and appends under the union of their conditions.
///
/// # Examples
///
/// A state, its handlers, and the query they define:
///
/// ```
/// use dcb_core::testkit::given;
/// use dcb_core::{Event, Id, Identifier, Projection, Query, QueryItem, decision};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct CourseId(dcb_core::Uuid);
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct StudentId(dcb_core::Uuid);
///
/// #[derive(Event, Serialize, Deserialize)]
/// struct CourseOpened {
///     #[tag]
///     course_id: CourseId,
///     places: u32,
/// }
///
/// #[derive(Event, Serialize, Deserialize)]
/// struct StudentEnrolled {
///     #[tag]
///     course_id: CourseId,
///     #[tag]
///     student_id: StudentId,
/// }
///
/// /// Whether a course has a free place.
/// #[decision]
/// struct FreePlaces {
///     #[boundary]
///     course_id: CourseId,
///     places: u32,
///     enrolled: u32,
/// }
///
/// #[decision]
/// impl FreePlaces {
///     fn opened(&mut self, event: &CourseOpened) {
///         self.places = event.places;
///     }
///
///     fn enrolled(&mut self, _: &StudentEnrolled) {
///         self.enrolled += 1;
///     }
/// }
///
/// fn enroll(state: &FreePlaces, student_id: StudentId) -> Result<StudentEnrolled, &'static str> {
///     if state.enrolled >= state.places {
///         return Err("the course is full");
///     }
///     Ok(StudentEnrolled { course_id: state.course_id, student_id })
/// }
///
/// let course_id = CourseId::new();
/// let state = FreePlaces::new(course_id);
/// let query = Query::from(
///     QueryItem::new()
///         .types([CourseOpened::EVENT_TYPE, StudentEnrolled::EVENT_TYPE])
///         .tags([course_id.tag()]),
/// );
/// assert_eq!(state.query(), query);
/// assert_eq!(state.condition(&query), query);
///
/// let (ada, alan) = (StudentId::new(), StudentId::new());
/// given(CourseOpened { course_id, places: 1 })
///     .when(FreePlaces::new(course_id), |state| enroll(state, ada))
///     .then(StudentEnrolled { course_id, student_id: ada });
/// given((CourseOpened { course_id, places: 1 }, StudentEnrolled { course_id, student_id: ada }))
///     .when(FreePlaces::new(course_id), |state| enroll(state, alan))
///     .then_error(&"the course is full");
/// ```
///
/// `#[no_conflict]`: the decision reads renames to put the course's current
/// title in its event, but whether a student fits in does not depend on the
/// title, so a rename appended meanwhile does not fail the append:
///
/// ```
/// # use dcb_core::{Event, Id, Identifier, Projection, Query, QueryItem, decision};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// # struct CourseId(dcb_core::Uuid);
/// # #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// # struct StudentId(dcb_core::Uuid);
/// # #[derive(Event, Serialize, Deserialize)]
/// # struct CourseOpened { #[tag] course_id: CourseId, title: String, places: u32 }
/// # #[derive(Event, Serialize, Deserialize)]
/// # struct StudentEnrolled { #[tag] course_id: CourseId, #[tag] student_id: StudentId, title: String }
/// # #[derive(Event, Serialize, Deserialize)]
/// # struct CourseRenamed { #[tag] course_id: CourseId, title: String }
/// #[decision]
/// struct Enrolment {
///     #[boundary]
///     course_id: CourseId,
///     title: String,
///     places: u32,
///     enrolled: u32,
/// }
///
/// #[decision]
/// impl Enrolment {
///     fn opened(&mut self, event: &CourseOpened) {
///         self.title.clone_from(&event.title);
///         self.places = event.places;
///     }
///
///     fn enrolled(&mut self, _: &StudentEnrolled) {
///         self.enrolled += 1;
///     }
///
///     #[no_conflict]
///     fn renamed(&mut self, event: &CourseRenamed) {
///         self.title.clone_from(&event.title);
///     }
/// }
///
/// let course_id = CourseId::new();
/// let state = Enrolment::new(course_id);
/// let query = state.query();
/// assert_eq!(
///     query,
///     Query::from(
///         QueryItem::new()
///             .types([CourseOpened::EVENT_TYPE, StudentEnrolled::EVENT_TYPE, CourseRenamed::EVENT_TYPE])
///             .tags([course_id.tag()]),
///     ),
/// );
/// assert_eq!(
///     state.condition(&query),
///     Query::from(
///         QueryItem::new()
///             .types([CourseOpened::EVENT_TYPE, StudentEnrolled::EVENT_TYPE])
///             .tags([course_id.tag()]),
///     ),
/// );
/// ```
///
/// Gapless invoice numbers: the latest invoice is all a new one depends
/// on, and the number goes back to the caller.
///
/// ```
/// use dcb_core::{Decider, Event, InMemoryStore, Retry, Returning, decision};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Event, Serialize, Deserialize)]
/// struct InvoiceCreated {
///     number: u64,
/// }
///
/// /// The number of the last invoice.
/// #[decision(global, latest)]
/// #[derive(Clone)]
/// struct LastInvoice {
///     number: u64,
/// }
///
/// #[decision]
/// impl LastInvoice {
///     fn created(&mut self, event: &InvoiceCreated) {
///         self.number = event.number;
///     }
/// }
///
/// fn create(last: &LastInvoice) -> Result<Returning<InvoiceCreated, u64>, std::convert::Infallible> {
///     let number = last.number + 1;
///     Ok(Returning::new(InvoiceCreated { number }, number))
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let store = InMemoryStore::new();
/// let decider = Decider::new(&store).retry(Retry::attempts(10));
/// let (_position, number) = decider.decide(LastInvoice::new(), create).await?;
/// assert_eq!(number, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// A parameter: a token confirms only within ten minutes of its issue, and
/// the rule lives in the handler, with `now` given to `new`.
///
/// ```
/// # use dcb_core::testkit::given;
/// # use dcb_core::{Event, Id, decision};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
/// # struct Email(String);
/// #[derive(Event, Serialize, Deserialize, Debug)]
/// struct TokenIssued {
///     #[tag]
///     email: Email,
///     at: u64,
/// }
///
/// #[decision]
/// struct Token {
///     #[boundary]
///     email: Email,
///     #[param]
///     now: u64,
///     valid: bool,
/// }
///
/// #[decision]
/// impl Token {
///     fn issued(&mut self, event: &TokenIssued) {
///         self.valid = self.now <= event.at + 600;
///     }
/// }
///
/// let email = Email::new("ada@example.com")?;
/// let token = Token::new(email.clone(), 1_000);
/// assert!(!token.valid);
/// # Ok::<(), dcb_core::ParseIdError>(())
/// ```
///
/// A composite decision: a student enrolls if the course has a free place
/// and the student takes fewer than two courses.
///
/// ```
/// # use dcb_core::testkit::given;
/// # use dcb_core::{Event, Id, Projection, decision};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// # struct CourseId(dcb_core::Uuid);
/// # #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// # struct StudentId(dcb_core::Uuid);
/// # #[derive(Event, Serialize, Deserialize)]
/// # struct CourseOpened { #[tag] course_id: CourseId, places: u32 }
/// # #[derive(Event, Serialize, Deserialize)]
/// # struct StudentEnrolled { #[tag] course_id: CourseId, #[tag] student_id: StudentId }
/// # #[decision]
/// # struct FreePlaces { #[boundary] course_id: CourseId, places: u32, enrolled: u32 }
/// # #[decision]
/// # impl FreePlaces {
/// #     fn opened(&mut self, event: &CourseOpened) { self.places = event.places; }
/// #     fn enrolled(&mut self, _: &StudentEnrolled) { self.enrolled += 1; }
/// # }
/// /// How many courses a student takes.
/// #[decision]
/// struct StudentLoad {
///     #[boundary]
///     student_id: StudentId,
///     courses: u32,
/// }
///
/// #[decision]
/// impl StudentLoad {
///     fn enrolled(&mut self, _: &StudentEnrolled) {
///         self.courses += 1;
///     }
/// }
///
/// fn enroll((course, student): &(FreePlaces, StudentLoad)) -> Result<StudentEnrolled, &'static str> {
///     if course.enrolled >= course.places {
///         return Err("the course is full");
///     }
///     if student.courses >= 2 {
///         return Err("the student takes two courses already");
///     }
///     Ok(StudentEnrolled { course_id: course.course_id, student_id: student.student_id })
/// }
///
/// let (maths, physics, latin) = (CourseId::new(), CourseId::new(), CourseId::new());
/// let ada = StudentId::new();
/// let decision = (FreePlaces::new(latin), StudentLoad::new(ada));
/// let query = FreePlaces::new(latin).query().union(&StudentLoad::new(ada).query());
/// assert_eq!(decision.query(), query);
/// assert_eq!(decision.condition(&query), query);
///
/// given(CourseOpened { course_id: latin, places: 10 })
///     .when(decision, enroll)
///     .then(StudentEnrolled { course_id: latin, student_id: ada });
/// given((
///     CourseOpened { course_id: latin, places: 10 },
///     StudentEnrolled { course_id: maths, student_id: ada },
///     StudentEnrolled { course_id: physics, student_id: ada },
/// ))
/// .when((FreePlaces::new(latin), StudentLoad::new(ada)), enroll)
/// .then_error(&"the student takes two courses already");
/// ```
///
/// A decision without a boundary reads every event of its handled types, and
/// so conflicts with every append of them; keep it for rules that really
/// span the whole store, and say so with `#[decision(global)]` — a state
/// struct with no `#[boundary]` field and no `global` does not compile, so
/// a forgotten or misspelled `#[boundary]` cannot slip through:
///
/// ```
/// # use dcb_core::{Event, Id, Projection, Query, QueryItem, decision};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// # struct CourseId(dcb_core::Uuid);
/// # #[derive(Event, Serialize, Deserialize)]
/// # struct CourseOpened { #[tag] course_id: CourseId }
/// # #[derive(Event, Serialize, Deserialize)]
/// # struct CourseClosed { #[tag] course_id: CourseId }
/// /// How many courses run at once, across the school.
/// #[decision(global)]
/// struct OpenCourses {
///     open: u32,
/// }
///
/// #[decision]
/// impl OpenCourses {
///     fn opened(&mut self, _: &CourseOpened) {
///         self.open += 1;
///     }
///
///     fn closed(&mut self, _: &CourseClosed) {
///         self.open -= 1;
///     }
/// }
///
/// assert_eq!(
///     OpenCourses::new().query(),
///     Query::from(QueryItem::new().types([CourseOpened::EVENT_TYPE, CourseClosed::EVENT_TYPE])),
/// );
/// ```
///
/// A handled event without the boundary's tag: `course_id` is there, but
/// without `#[tag]` it is only data, and the decision does not compile (with
/// `#[tag]` on `course_id`, it does):
///
/// ```compile_fail
/// use dcb_core::{Event, Id, decision};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
/// struct CourseId(dcb_core::Uuid);
///
/// #[derive(Event, Serialize, Deserialize)]
/// struct CourseCancelled {
///     course_id: CourseId,
/// }
///
/// #[decision]
/// struct Cancellation {
///     #[boundary]
///     course_id: CourseId,
///     cancelled: bool,
/// }
///
/// #[decision]
/// impl Cancellation {
///     fn cancelled(&mut self, _: &CourseCancelled) {
///         self.cancelled = true;
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn decision(args: TokenStream, item: TokenStream) -> TokenStream {
    decision::attribute(&args.into(), item.into()).into()
}

/// Declares a read model's handlers: the impl block of a model's state,
/// from which `dcb_core::read_model::ReadModel` is derived.
///
/// The handlers take the forms of `#[decision]`'s —
/// `fn name(&mut self, event: &E)`, optionally with the event's
/// `position: Position` or `stored: &SequencedEvent` second. The model's
/// query is every event of the handled types, derived from the handlers as
/// a decision's is, so a handler whose events the model does not read
/// cannot be written. A read model has no boundary and appends nothing, so
/// it takes neither `#[boundary]` nor `#[no_conflict]`; the struct itself
/// needs no attribute. Run it with `dcb_core::read_model::Runner`, which
/// needs it to be `Default`, `Serialize` and `Deserialize` as well.
///
/// ```
/// use std::collections::BTreeMap;
///
/// use dcb_core::read_model::ReadModel;
/// use dcb_core::{Event, Id, Position, Query, QueryItem, read_model};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
/// struct CourseId(dcb_core::Uuid);
///
/// #[derive(Event, Serialize, Deserialize)]
/// struct CourseRegistered {
///     #[tag]
///     course_id: CourseId,
///     name: String,
/// }
///
/// #[derive(Event, Serialize, Deserialize)]
/// struct CourseRenamed {
///     #[tag]
///     course_id: CourseId,
///     name: String,
/// }
///
/// /// Every course's name, and the position of its last change.
/// #[derive(Default, Serialize, Deserialize)]
/// struct CourseNames(BTreeMap<CourseId, (String, u64)>);
///
/// #[read_model]
/// impl CourseNames {
///     fn registered(&mut self, event: &CourseRegistered, position: Position) {
///         self.0.insert(event.course_id, (event.name.clone(), position.get()));
///     }
///
///     fn renamed(&mut self, event: &CourseRenamed, position: Position) {
///         self.0.insert(event.course_id, (event.name.clone(), position.get()));
///     }
/// }
///
/// assert_eq!(
///     CourseNames::default().query(),
///     Query::from(QueryItem::new().types([CourseRegistered::EVENT_TYPE, CourseRenamed::EVENT_TYPE])),
/// );
/// ```
#[proc_macro_attribute]
pub fn read_model(args: TokenStream, item: TokenStream) -> TokenStream {
    read_model::attribute(&args.into(), item.into()).into()
}

/// Registers a function as the upcaster of an event type from one version
/// to the next: `#[upcast(Event, from = N)]` on a
/// `fn(serde_json::Value) -> serde_json::Value` that turns the stored JSON
/// of version `N` of the event type `Event` into the JSON of version `N + 1`.
///
/// Decoding a stored event of an older version than its type's
/// `#[event(version = …)]` applies the upcasters one version after the
/// other, then deserializes the result (see `dcb_core::versioning`). An
/// upcaster reads and returns the data without the reserved `_version`
/// member, which decoding handles.
///
/// The function may also return `Result<serde_json::Value, E>` with
/// `E: Display`, for data it cannot upcast: decoding then fails with a
/// `DecodeError` that names the upcaster and gives `E`'s message.
///
/// The attribute keeps the function as written and registers it through
/// `inventory`, as `#[derive(Event)]` registers event types. The compiler
/// checks that `Event` is an event type and that `from` is below its version;
/// `dcb_core::registry::validate()` checks at startup that every older
/// version of every versioned type has exactly one upcaster, and decoding
/// names the one it misses.
///
/// # Examples
///
/// An event renamed a field at version 2 and gained one at version 3:
///
/// ```standalone_crate
/// use dcb_core::{Event, registry, upcast};
/// use serde::{Deserialize, Serialize};
/// use serde_json::{Value, json};
///
/// #[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
/// #[event(version = 3)]
/// struct CourseRegistered {
///     title: String,
///     places: u32,
///     waiting_list: bool,
/// }
///
/// /// Version 2 renamed `name` to `title`.
/// #[upcast(CourseRegistered, from = 1)]
/// fn name_to_title(mut data: Value) -> Result<Value, String> {
///     let object = data.as_object_mut().ok_or("not an object")?;
///     let name = object.remove("name").ok_or("no `name`")?;
///     object.insert("title".into(), name);
///     Ok(data)
/// }
///
/// /// Version 3 added the waiting list, off for the courses before it.
/// #[upcast(CourseRegistered, from = 2)]
/// fn without_waiting_list(mut data: Value) -> Value {
///     data["waiting_list"] = json!(false);
///     data
/// }
///
/// registry::validate()?;
/// let maths = CourseRegistered { title: "Maths".into(), places: 5, waiting_list: false };
/// let version_1 = br#"{"name":"Maths","places":5}"#;
/// let version_2 = br#"{"_version":2,"title":"Maths","places":5}"#;
/// assert_eq!(CourseRegistered::decode(version_1)?, maths);
/// assert_eq!(CourseRegistered::decode(version_2)?, maths);
/// assert_eq!(CourseRegistered::decode(&maths.encode()?)?, maths);
///
/// let error = CourseRegistered::decode(br#"{"places":5}"#).unwrap_err();
/// assert!(error.to_string().contains("failed: no `name`"), "{error}");
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
///
/// Upcasting from a version the event is not above yet fails the build:
///
/// ```compile_fail
/// use dcb_core::{Event, upcast};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Event, Serialize, Deserialize)]
/// #[event(version = 2)]
/// struct CourseRegistered {
///     title: String,
/// }
///
/// #[upcast(CourseRegistered, from = 2)] // version 2 is the current one
/// fn too_far(data: serde_json::Value) -> serde_json::Value {
///     data
/// }
/// ```
#[proc_macro_attribute]
pub fn upcast(args: TokenStream, item: TokenStream) -> TokenStream {
    versioning::attribute(args.into(), item.into()).into()
}
