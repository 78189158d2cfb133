//! [`Projection`]: the state a decision folds from the events its rules
//! depend on, and the query that selects them.
//!
//! `#[decision]` implements it from a state struct with `#[boundary]` id
//! fields and an impl block of handlers, one event type each. Projections
//! compose: a tuple of projections is one projection whose query is the
//! union of theirs, folded in one pass.

use std::num::NonZeroUsize;

use crate::decide::known::KnownParts;
use crate::domain::event::DecodeError;
use crate::{EventRecord, Query, SequencedEvent, Tag};

/// The boundary of a `#[decision]` state: the typed ids (its `#[boundary]`
/// fields) whose tags every event it reads carries. Implemented by
/// `#[decision]` on the state struct.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not the state of a decision",
    label = "no `#[decision]` on the struct `{Self}`",
    note = "put `#[decision]` on the struct `{Self}` too, with `#[boundary]` on its id fields"
)]
pub trait Boundary {
    /// The boundary's id types, as a tuple (`()` for none).
    type Ids;

    /// `Some(n)` when the state is read from its last `n` events only
    /// (`#[decision(latest = n)]`); the projection's
    /// [`LATEST`](Projection::LATEST).
    const LATEST: Option<NonZeroUsize> = None;

    /// Whether the state has `#[param]` fields: inputs that `new` takes
    /// for one decision (the time now, a displayed price), which a
    /// [`KnownState`](crate::KnownState) must not bring back from another,
    /// so such a state is never kept.
    const HAS_PARAMS: bool = false;

    /// The boundary's tags.
    fn boundary_tags(&self) -> Vec<Tag>;

    /// Whether `event` carries every boundary tag.
    fn in_boundary(&self, event: &EventRecord) -> bool;
}

/// State folded from the events a query selects.
///
/// `#[decision]` implements it from a state struct and its impl block of
/// handlers; a composite (a tuple or `Vec` of projections) is one too.
///
/// # Contract for implementors
///
/// - [`query`](Self::query) selects every event [`apply`](Self::apply)
///   uses; [`condition`](Self::condition) selects the events that must not
///   appear after the read for the decision to stand (by default the same),
///   and selects nothing the query does not.
/// - [`apply`](Self::apply) takes events in position order, each one that
///   [`query`](Self::query) selects (so [`selects`](Self::selects) accepts
///   it); it need not check that again, and ignores types it does not
///   handle. A composite checks [`selects`](Self::selects) for each member
///   before applying an event to it.
/// - With [`LATEST`](Self::LATEST) set to `Some(n)`, only the last `n`
///   events the query selects are read and applied, in position order; the
///   condition still covers every selected event after the read's head, so
///   a decision made from the latest events stands only if no later one
///   appears.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a decision's projection",
    label = "not a projection",
    note = "put `#[decision]` on the state struct `{Self}` and on its impl block of handlers, such as `#[decision] impl {Self} {{ fn joined(&mut self, event: &StudentJoined) {{ … }} }}`"
)]
pub trait Projection: Send {
    /// The events to read: handled event types × boundary tags.
    fn query(&self) -> Query;

    /// The events that invalidate a decision made from this state, given
    /// the [`query`](Self::query) it was read with: by default the same
    /// query. A narrower condition lets events the decision reads but does
    /// not depend on be appended concurrently without a conflict.
    fn condition(&self, query: &Query) -> Query {
        query.clone()
    }

    /// Whether [`condition`](Self::condition) is narrower than the query.
    /// Composites whose members all keep the default reuse their query as
    /// the condition instead of computing it again.
    const NARROWS_CONDITION: bool = false;

    /// `Some(n)` for a latest-event projection: it reads only the last `n`
    /// events its query selects (backwards, with a limit) and folds them in
    /// position order. `None`, the default, reads every selected event.
    /// `#[decision(latest)]` sets it to one, `#[decision(latest = n)]` to `n`.
    const LATEST: Option<NonZeroUsize> = None;

    /// Whether `event` is one this projection reads.
    fn selects(&self, event: &SequencedEvent) -> bool;

    /// Folds one event that the projection selects into the state.
    fn apply(&mut self, event: &SequencedEvent) -> Result<(), DecodeError>;

    /// Visits the parts of the projection that a
    /// [`KnownState`](crate::KnownState) can keep: `#[decision]` visits
    /// itself when it can be kept, a composite visits its members. By
    /// default the projection is not kept, and decisions with it read.
    #[doc(hidden)]
    fn known_parts(&mut self, parts: &mut KnownParts<'_>) {
        parts.not_kept();
    }
}

macro_rules! projection_for_tuples {
    ($($p:ident . $i:tt),+) => {
        /// A composite decision: read with the union of the members'
        /// queries, each event folded into every member that selects it,
        /// appended under the union of their conditions.
        impl<$($p: Projection),+> Projection for ($($p,)+) {
            fn query(&self) -> Query {
                const { assert!($($p::LATEST.is_none())&&+, "{}", LATEST_IN_COMPOSITE) };
                union(&[$(self.$i.query()),+])
            }

            const NARROWS_CONDITION: bool = $($p::NARROWS_CONDITION)||+;

            fn condition(&self, query: &Query) -> Query {
                if Self::NARROWS_CONDITION {
                    union(&[$(self.$i.condition(&self.$i.query())),+])
                } else {
                    query.clone()
                }
            }

            fn selects(&self, event: &SequencedEvent) -> bool {
                $(self.$i.selects(event))||+
            }

            fn apply(&mut self, event: &SequencedEvent) -> Result<(), DecodeError> {
                $(
                    if self.$i.selects(event) {
                        self.$i.apply(event)?;
                    }
                )+
                Ok(())
            }

            fn known_parts(&mut self, parts: &mut KnownParts<'_>) {
                $(self.$i.known_parts(parts);)+
            }
        }
    };
}

projection_for_tuples!(A.0, B.1);
projection_for_tuples!(A.0, B.1, C.2);
projection_for_tuples!(A.0, B.1, C.2, D.3);
projection_for_tuples!(A.0, B.1, C.2, D.3, E.4);
projection_for_tuples!(A.0, B.1, C.2, D.3, E.4, F.5);

/// A composite of any number of projections of one type, such as the
/// names of several students: read with the union of their queries, each
/// event folded into every member that selects it. An empty `Vec` reads
/// nothing it needs and decides from no events.
impl<P: Projection> Projection for Vec<P> {
    fn query(&self) -> Query {
        const { assert!(P::LATEST.is_none(), "{}", LATEST_IN_COMPOSITE) };
        self.iter()
            .map(Projection::query)
            .reduce(|all, next| all.union(&next))
            .unwrap_or_else(nothing)
    }

    const NARROWS_CONDITION: bool = P::NARROWS_CONDITION;

    fn condition(&self, query: &Query) -> Query {
        if !P::NARROWS_CONDITION {
            return query.clone();
        }
        self.iter()
            .map(|p| p.condition(&p.query()))
            .reduce(|all, next| all.union(&next))
            .unwrap_or_else(nothing)
    }

    fn selects(&self, event: &SequencedEvent) -> bool {
        self.iter().any(|p| p.selects(event))
    }

    fn apply(&mut self, event: &SequencedEvent) -> Result<(), DecodeError> {
        for member in self.iter_mut() {
            if member.selects(event) {
                member.apply(event)?;
            }
        }
        Ok(())
    }

    fn known_parts(&mut self, parts: &mut KnownParts<'_>) {
        for member in self.iter_mut() {
            member.known_parts(parts);
        }
    }
}

/// Why a composite refuses a latest-event member: the composite reads every
/// event its members select, so the member would fold more than its latest.
const LATEST_IN_COMPOSITE: &str = "a latest-event decision (`#[decision(latest)]`) cannot be part of a \
     composite, which reads every event its members select: decide it on its own";

/// A query no event matches: one that requires a tag no event can carry
/// (tags have no control characters) is not expressible, so it names a
/// type reserved for this purpose.
fn nothing() -> Query {
    Query::from(crate::QueryItem::new().types([crate::EventType::from_static("dcb.none")]))
}

/// The union of the members' queries, without the items another one covers
/// (a member's boundary inside another's, such as a membership inside its
/// course): the union selects the same events without them, and a store
/// looks events up once per item.
fn union<const N: usize>(queries: &[Query; N]) -> Query {
    if queries.iter().any(Query::is_all) {
        return Query::all();
    }
    Query::union_of_items(queries.iter().flat_map(|q| q.items().iter().cloned()))
}

/// Folds `events` into `projection`, skipping those it does not select.
pub fn fold<'a, P: Projection + ?Sized>(
    projection: &mut P,
    events: impl IntoIterator<Item = &'a SequencedEvent>,
) -> Result<(), DecodeError> {
    for event in events {
        if projection.selects(event) {
            projection.apply(event)?;
        }
    }
    Ok(())
}
