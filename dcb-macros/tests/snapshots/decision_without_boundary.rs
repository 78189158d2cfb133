// The expansion of #[decision] on the fixture `decision_without_boundary` (dcb-macros/src/tests/).
// Regenerate with `UPDATE_EXPECT=1 cargo test -p dcb-macros` and review the diff.
//
// /// How many courses exist, across the whole system.
// #[decision(global)]
// struct CourseCount {
//     courses: u32,
// }
// #[decision]
// impl CourseCount {
//     fn registered(&mut self, _: &CourseRegistered) {
//         self.courses += 1;
//     }
// }

/// How many courses exist, across the whole system.
struct CourseCount {
    courses: u32,
}
impl CourseCount {
    /// The state before any event.
    #[must_use]
    fn new() -> Self {
        use ::dcb_core::__private::{NoDefault as _, ViaDefault as _};
        Self {
            courses: (&::dcb_core::__private::Start::<u32>::new()).start(),
        }
    }
}
#[automatically_derived]
impl ::dcb_core::Boundary for CourseCount {
    type Ids = ();
    fn boundary_tags(&self) -> ::std::vec::Vec<::dcb_core::Tag> {
        ::std::vec::Vec::from([])
    }
    fn in_boundary(&self, _event: &::dcb_core::EventRecord) -> bool {
        true
    }
}
/// Fails the build if the impl block of handlers lacks `#[decision]`.
const _: () = {
    fn projection<P: ::dcb_core::Projection>() {}
    #[allow(dead_code)]
    fn check() {
        projection::<CourseCount>();
    }
};
impl CourseCount {
    fn registered(&mut self, _: &CourseRegistered) {
        self.courses += 1;
    }
}
const _: () = {
    /// Type-checked, never called: each handled event type carries every boundary tag.
    #[allow(dead_code)]
    fn check_handlers() {
        use ::dcb_core::__private::{CheckTags as _, Unchecked as _};
        (&::dcb_core::__private::Handles::<CourseCount, CourseRegistered>::new())
            .check();
    }
    /// The stored names of the handled event types, in the handlers' order.
    const HANDLED: [&str; 1] = [<CourseRegistered as ::dcb_core::Event>::NAME];
    /// The handled event types.
    const TYPES: [::dcb_core::EventType; 1] = ::dcb_core::__private::event_types(
        HANDLED,
    );
    #[automatically_derived]
    impl ::dcb_core::Projection for CourseCount {
        const LATEST: ::core::option::Option<::core::num::NonZeroUsize> = <CourseCount as ::dcb_core::Boundary>::LATEST;
        fn query(&self) -> ::dcb_core::Query {
            ::dcb_core::__private::query(
                TYPES,
                <CourseCount as ::dcb_core::Boundary>::boundary_tags(self),
            )
        }
        fn selects(&self, event: &::dcb_core::SequencedEvent) -> bool {
            HANDLED.contains(&event.event_type().as_str())
                && <CourseCount as ::dcb_core::Boundary>::in_boundary(self, event)
        }
        fn apply(
            &mut self,
            event: &::dcb_core::SequencedEvent,
        ) -> ::core::result::Result<(), ::dcb_core::DecodeError> {
            let name = event.event_type().as_str();
            if name == HANDLED[0] {
                self.registered(&::dcb_core::Event::from_event(event)?);
            }
            ::core::result::Result::Ok(())
        }
        fn known_parts(&mut self, parts: &mut ::dcb_core::__private::KnownParts<'_>) {
            use ::dcb_core::__private::{Keep as _, KeepNot as _};
            if <CourseCount as ::dcb_core::Boundary>::HAS_PARAMS {
                parts.not_kept();
            } else {
                (&::dcb_core::__private::Kept::<Self>::new()).keep(self, parts);
            }
        }
    }
};
