// The expansion of #[decision] on the fixture `decision_handlers_with_no_conflict` (dcb-macros/src/tests/).
// Regenerate with `UPDATE_EXPECT=1 cargo test -p dcb-macros` and review the diff.
//
// #[decision]
// impl Subscription {
//     fn subscribed(&mut self, _: &StudentSubscribed) {
//         self.subscribed = true;
//     }
//     fn unsubscribed(&mut self, _: &StudentUnsubscribed) {
//         self.subscribed = false;
//     }
//     /// Reminders do not change whether a student may
//     /// subscribe, so one sent meanwhile is no conflict.
//     #[no_conflict]
//     fn reminded(&mut self, _: &ReminderSent) {
//         self.reminders += 1;
//     }
// }

impl Subscription {
    fn subscribed(&mut self, _: &StudentSubscribed) {
        self.subscribed = true;
    }
    fn unsubscribed(&mut self, _: &StudentUnsubscribed) {
        self.subscribed = false;
    }
    /// Reminders do not change whether a student may
    /// subscribe, so one sent meanwhile is no conflict.
    fn reminded(&mut self, _: &ReminderSent) {
        self.reminders += 1;
    }
}
const _: () = {
    /// Type-checked, never called: each handled event type carries every boundary tag.
    #[allow(dead_code)]
    fn check_handlers() {
        use ::dcb_core::__private::{CheckTags as _, Unchecked as _};
        (&::dcb_core::__private::Handles::<Subscription, StudentSubscribed>::new())
            .check();
        (&::dcb_core::__private::Handles::<Subscription, StudentUnsubscribed>::new())
            .check();
        (&::dcb_core::__private::Handles::<Subscription, ReminderSent>::new()).check();
    }
    /// The stored names of the handled event types, in the handlers' order.
    const HANDLED: [&str; 3] = [
        <StudentSubscribed as ::dcb_core::Event>::NAME,
        <StudentUnsubscribed as ::dcb_core::Event>::NAME,
        <ReminderSent as ::dcb_core::Event>::NAME,
    ];
    /// The handled event types.
    const TYPES: [::dcb_core::EventType; 3] = ::dcb_core::__private::event_types(
        HANDLED,
    );
    /// The event types of the handlers that are not `#[no_conflict]`.
    const CONFLICTING: [::dcb_core::EventType; 2] = ::dcb_core::__private::event_types([
        HANDLED[0],
        HANDLED[1],
    ]);
    /// Fails the build if a handled event type has an earlier one's stored name.
    const _: () = {
        ::dcb_core::__private::new_event_name(&HANDLED, 1, "StudentUnsubscribed");
        ::dcb_core::__private::new_event_name(&HANDLED, 2, "ReminderSent");
    };
    #[automatically_derived]
    impl ::dcb_core::Projection for Subscription {
        const LATEST: ::core::option::Option<::core::num::NonZeroUsize> = <Subscription as ::dcb_core::Boundary>::LATEST;
        fn query(&self) -> ::dcb_core::Query {
            ::dcb_core::__private::query(
                TYPES,
                <Subscription as ::dcb_core::Boundary>::boundary_tags(self),
            )
        }
        const NARROWS_CONDITION: bool = true;
        /// The query without the event types of `#[no_conflict]` handlers.
        fn condition(&self, _query: &::dcb_core::Query) -> ::dcb_core::Query {
            ::dcb_core::__private::query(
                CONFLICTING,
                <Subscription as ::dcb_core::Boundary>::boundary_tags(self),
            )
        }
        fn selects(&self, event: &::dcb_core::SequencedEvent) -> bool {
            HANDLED.contains(&event.event_type().as_str())
                && <Subscription as ::dcb_core::Boundary>::in_boundary(self, event)
        }
        fn apply(
            &mut self,
            event: &::dcb_core::SequencedEvent,
        ) -> ::core::result::Result<(), ::dcb_core::DecodeError> {
            let name = event.event_type().as_str();
            if name == HANDLED[0] {
                self.subscribed(&::dcb_core::Event::from_event(event)?);
            } else if name == HANDLED[1] {
                self.unsubscribed(&::dcb_core::Event::from_event(event)?);
            } else if name == HANDLED[2] {
                self.reminded(&::dcb_core::Event::from_event(event)?);
            }
            ::core::result::Result::Ok(())
        }
        fn known_parts(&mut self, parts: &mut ::dcb_core::__private::KnownParts<'_>) {
            use ::dcb_core::__private::{Keep as _, KeepNot as _};
            if <Subscription as ::dcb_core::Boundary>::HAS_PARAMS {
                parts.not_kept();
            } else {
                (&::dcb_core::__private::Kept::<Self>::new()).keep(self, parts);
            }
        }
    }
};
