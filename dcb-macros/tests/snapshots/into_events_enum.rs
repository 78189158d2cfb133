// The expansion of #[derive(IntoEvents)] on the fixture `into_events_enum` (dcb-macros/src/tests/).
// Regenerate with `UPDATE_EXPECT=1 cargo test -p dcb-macros` and review the diff.
//
// /// What a request to join comes to.
// #[derive(IntoEvents)]
// pub enum Enrolment {
//     Joined(StudentJoined),
//     JoinedLast((StudentJoined, CourseFilled)),
//     Waitlisted(Option<StudentWaitlisted>),
//     AlreadyIn(()),
// }

#[automatically_derived]
impl ::dcb_core::IntoEvents for Enrolment {
    fn into_events(
        self,
        out: &mut ::std::vec::Vec<::dcb_core::EventRecord>,
    ) -> ::core::result::Result<(), ::dcb_core::EncodeError> {
        match self {
            Self::Joined(events) => {
                <StudentJoined as ::dcb_core::IntoEvents>::into_events(events, out)
            }
            Self::JoinedLast(events) => {
                <(
                    StudentJoined,
                    CourseFilled,
                ) as ::dcb_core::IntoEvents>::into_events(events, out)
            }
            Self::Waitlisted(events) => {
                <Option<
                    StudentWaitlisted,
                > as ::dcb_core::IntoEvents>::into_events(events, out)
            }
            Self::AlreadyIn(events) => {
                <() as ::dcb_core::IntoEvents>::into_events(events, out)
            }
        }
    }
}
