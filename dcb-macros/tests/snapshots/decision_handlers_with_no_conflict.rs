// The expansion of #[decision] on the fixture `decision_handlers_with_no_conflict` (dcb-macros/src/tests/).
// Regenerate with `DCB_SNAPSHOTS=overwrite cargo test -p dcb-macros` and review the diff.
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
    #[allow(dead_code)]
    fn check_handlers() {
        use ::dcb_core::__private::{CheckTags as _, Unchecked as _};
        (&::dcb_core::__private::Handles::<Subscription, StudentSubscribed>::new())
            .check();
        (&::dcb_core::__private::Handles::<Subscription, StudentUnsubscribed>::new())
            .check();
        (&::dcb_core::__private::Handles::<Subscription, ReminderSent>::new()).check();
    }
    const _: () = {
        if ::dcb_core::__private::contains_str(
            &[<StudentSubscribed as ::dcb_core::Event>::NAME],
            <StudentUnsubscribed as ::dcb_core::Event>::NAME,
        ) {
            ::core::panic!(
                "`StudentUnsubscribed` has the same event type name as another event type this decision handles, so it could not tell their events apart; give one of them another with `#[event(name = \"...\")]`"
            );
        }
        if ::dcb_core::__private::contains_str(
            &[
                <StudentSubscribed as ::dcb_core::Event>::NAME,
                <StudentUnsubscribed as ::dcb_core::Event>::NAME,
            ],
            <ReminderSent as ::dcb_core::Event>::NAME,
        ) {
            ::core::panic!(
                "`ReminderSent` has the same event type name as another event type this decision handles, so it could not tell their events apart; give one of them another with `#[event(name = \"...\")]`"
            );
        }
    };
    #[automatically_derived]
    impl ::dcb_core::Projection for Subscription {
        fn query(&self) -> ::dcb_core::Query {
            ::dcb_core::Query::from(
                ::dcb_core::QueryItem::new()
                    .types([
                        <StudentSubscribed as ::dcb_core::Event>::EVENT_TYPE,
                        <StudentUnsubscribed as ::dcb_core::Event>::EVENT_TYPE,
                        <ReminderSent as ::dcb_core::Event>::EVENT_TYPE,
                    ])
                    .tags(<Subscription as ::dcb_core::Boundary>::boundary_tags(self)),
            )
        }
        const NARROWS_CONDITION: bool = true;
        /// The query without the event types of `#[no_conflict]` handlers.
        fn condition(&self, _query: &::dcb_core::Query) -> ::dcb_core::Query {
            ::dcb_core::Query::from(
                ::dcb_core::QueryItem::new()
                    .types([
                        <StudentSubscribed as ::dcb_core::Event>::EVENT_TYPE,
                        <StudentUnsubscribed as ::dcb_core::Event>::EVENT_TYPE,
                    ])
                    .tags(<Subscription as ::dcb_core::Boundary>::boundary_tags(self)),
            )
        }
        fn selects(&self, event: &::dcb_core::SequencedEvent) -> bool {
            let name = event.event_type().as_str();
            (name == <StudentSubscribed as ::dcb_core::Event>::NAME
                || name == <StudentUnsubscribed as ::dcb_core::Event>::NAME
                || name == <ReminderSent as ::dcb_core::Event>::NAME)
                && <Subscription as ::dcb_core::Boundary>::in_boundary(self, event)
        }
        fn apply(
            &mut self,
            event: &::dcb_core::SequencedEvent,
        ) -> ::core::result::Result<(), ::dcb_core::DecodeError> {
            let name = event.event_type().as_str();
            if name == <StudentSubscribed as ::dcb_core::Event>::NAME {
                self.subscribed(
                    &<StudentSubscribed as ::dcb_core::Event>::from_event(event)?,
                );
            } else if name == <StudentUnsubscribed as ::dcb_core::Event>::NAME {
                self.unsubscribed(
                    &<StudentUnsubscribed as ::dcb_core::Event>::from_event(event)?,
                );
            } else if name == <ReminderSent as ::dcb_core::Event>::NAME {
                self.reminded(&<ReminderSent as ::dcb_core::Event>::from_event(event)?);
            }
            ::core::result::Result::Ok(())
        }
    }
};
