// The expansion of #[read_model] on the fixture `read_model_handlers` (dcb-macros/src/tests/).
// Regenerate with `UPDATE_EXPECT=1 cargo test -p dcb-macros` and review the diff.
//
// impl CourseNames {
//     fn registered(&mut self, event: &CourseRegistered) {
//         self.0.insert(event.course_id, event.name.clone());
//     }
//     fn renamed(&mut self, event: &CourseRenamed, position: Position) {
//         self.0.insert(event.course_id, event.name.clone());
//         self.1 = Some(position);
//     }
// }

impl CourseNames {
    fn registered(&mut self, event: &CourseRegistered) {
        self.0.insert(event.course_id, event.name.clone());
    }
    fn renamed(&mut self, event: &CourseRenamed, position: Position) {
        self.0.insert(event.course_id, event.name.clone());
        self.1 = Some(position);
    }
}
const _: () = {
    /// The stored names of the handled event types, in the handlers' order.
    const HANDLED: [&str; 2] = [
        <CourseRegistered as ::dcb_core::Event>::NAME,
        <CourseRenamed as ::dcb_core::Event>::NAME,
    ];
    /// The handled event types.
    const TYPES: [::dcb_core::EventType; 2] = ::dcb_core::__private::event_types(
        HANDLED,
    );
    /// Fails the build if a handled event type has an earlier one's stored name.
    const _: () = {
        ::dcb_core::__private::new_event_name(&HANDLED, 1, "CourseRenamed");
    };
    #[automatically_derived]
    impl ::dcb_core::read_model::ReadModel for CourseNames {
        fn query(&self) -> ::dcb_core::Query {
            ::dcb_core::__private::query(TYPES, ::std::vec::Vec::new())
        }
        fn apply(
            &mut self,
            event: &::dcb_core::SequencedEvent,
        ) -> ::core::result::Result<(), ::dcb_core::DecodeError> {
            let name = event.event_type().as_str();
            if name == HANDLED[0] {
                self.registered(&::dcb_core::Event::from_event(event)?);
            } else if name == HANDLED[1] {
                self.renamed(
                    &::dcb_core::Event::from_event(event)?,
                    ::dcb_core::__private::context(event),
                );
            }
            ::core::result::Result::Ok(())
        }
    }
};
