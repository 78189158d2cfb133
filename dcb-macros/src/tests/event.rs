//! `#[derive(Event)]`: tag fields of every shape, and none.

use quote::quote;

use super::assert_snapshot;

#[track_caller]
fn snapshot(name: &str, input: &proc_macro2::TokenStream) {
    assert_snapshot(
        name,
        "#[derive(Event)]",
        input,
        crate::event::derive(input.clone()),
    );
}

#[test]
fn event_with_tags() {
    snapshot(
        "event_with_tags",
        &quote! {
            /// A student moved to a course, maybe from another one.
            #[derive(Event, Serialize, Deserialize)]
            #[event(name = "StudentMovedToCourse.v2")]
            pub struct StudentMoved {
                #[tag]
                pub student_id: StudentId,
                #[tag]
                pub course_id: CourseId,
                #[tag(prefix = "previous_course")]
                pub previous_course_id: Option<CourseId>,
                #[tag]
                pub teacher_ids: Vec<TeacherId>,
                pub reason: String,
            }
        },
    );
}

#[test]
fn event_without_tags_with_codec() {
    snapshot(
        "event_without_tags_with_codec",
        &quote! {
            #[derive(Event, Serialize, Deserialize)]
            #[event(codec = crate::codecs::MessagePack)]
            pub struct TermStarted {
                pub term: u32,
            }
        },
    );
}

#[test]
fn event_versioned() {
    snapshot(
        "event_versioned",
        &quote! {
            /// A student joined a course; version 3 added the credits.
            #[derive(Event, Serialize, Deserialize)]
            #[event(version = 3)]
            pub struct StudentJoinedCourse {
                #[tag]
                pub course_id: CourseId,
                #[tag]
                pub student_id: StudentId,
                pub credits: u32,
            }
        },
    );
}

#[test]
fn event_with_tags_of_one_kind() {
    snapshot(
        "event_with_tags_of_one_kind",
        &quote! {
            /// Tagged with both names, so that a decision about either reads it.
            #[derive(Event, Serialize, Deserialize)]
            pub struct UsernameChanged {
                #[tag]
                pub user_id: UserId,
                #[tag]
                pub old: Username,
                #[tag]
                pub new: Username,
                #[tag(prefix = "reserved_username")]
                pub reserved: Option<Username>,
            }
        },
    );
}
