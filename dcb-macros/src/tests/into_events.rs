//! `#[derive(IntoEvents)]`: an enum of outcomes, each with its events.

use quote::quote;

use super::assert_snapshot;

#[track_caller]
fn snapshot(name: &str, input: &proc_macro2::TokenStream) {
    assert_snapshot(
        name,
        "#[derive(IntoEvents)]",
        input,
        crate::into_events::derive(input.clone()),
    );
}

#[test]
fn into_events_enum() {
    snapshot(
        "into_events_enum",
        &quote! {
            /// What a request to join comes to.
            #[derive(IntoEvents)]
            pub enum Enrolment {
                Joined(StudentJoined),
                JoinedLast((StudentJoined, CourseFilled)),
                Waitlisted(Option<StudentWaitlisted>),
                AlreadyIn(()),
            }
        },
    );
}
