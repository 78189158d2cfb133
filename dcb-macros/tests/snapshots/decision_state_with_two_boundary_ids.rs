// The expansion of #[decision] on the fixture `decision_state_with_two_boundary_ids` (dcb-macros/src/tests/).
// Regenerate with `UPDATE_EXPECT=1 cargo test -p dcb-macros` and review the diff.
//
// /// Whether a student is subscribed to a course.
// #[decision]
// pub struct Subscription {
//     #[boundary]
//     pub course_id: CourseId,
//     #[boundary]
//     pub student_id: StudentId,
//     subscribed: bool,
//     reminders: u32,
// }

/// Whether a student is subscribed to a course.
pub struct Subscription {
    pub course_id: CourseId,
    pub student_id: StudentId,
    subscribed: bool,
    reminders: u32,
}
impl Subscription {
    /// The state before any event, for `course_id`, `student_id`.
    #[must_use]
    pub fn new(course_id: CourseId, student_id: StudentId) -> Self {
        use ::dcb_core::__private::{NoDefault as _, ViaDefault as _};
        Self {
            course_id,
            student_id,
            subscribed: (&::dcb_core::__private::Start::<bool>::new()).start(),
            reminders: (&::dcb_core::__private::Start::<u32>::new()).start(),
        }
    }
}
#[automatically_derived]
impl ::dcb_core::Boundary for Subscription {
    type Ids = (CourseId, StudentId);
    fn boundary_tags(&self) -> ::std::vec::Vec<::dcb_core::Tag> {
        ::std::vec::Vec::from([
            <CourseId as ::dcb_core::Identifier>::tag(&self.course_id),
            <StudentId as ::dcb_core::Identifier>::tag(&self.student_id),
        ])
    }
    fn in_boundary(&self, event: &::dcb_core::EventRecord) -> bool {
        let tags = event.tags();
        tags
            .iter()
            .any(|tag| <CourseId as ::dcb_core::Identifier>::is_tag(
                &self.course_id,
                tag,
            ))
            && tags
                .iter()
                .any(|tag| <StudentId as ::dcb_core::Identifier>::is_tag(
                    &self.student_id,
                    tag,
                ))
    }
}
/// Fails the build if the impl block of handlers lacks `#[decision]`.
const _: () = {
    fn projection<P: ::dcb_core::Projection>() {}
    #[allow(dead_code)]
    fn check() {
        projection::<Subscription>();
    }
};
