// The expansion of #[derive(Event)] on the fixture `event_versioned` (dcb-macros/src/tests/).
// Regenerate with `UPDATE_EXPECT=1 cargo test -p dcb-macros` and review the diff.
//
// /// A student joined a course; version 3 added the credits.
// #[derive(Event, Serialize, Deserialize)]
// #[event(version = 3)]
// pub struct StudentJoinedCourse {
//     #[tag]
//     pub course_id: CourseId,
//     #[tag]
//     pub student_id: StudentId,
//     pub credits: u32,
// }

#[automatically_derived]
impl ::dcb_core::Event for StudentJoinedCourse {
    const NAME: &'static str = "StudentJoinedCourse";
    const VERSION: u32 = 3;
    fn tags(&self) -> ::dcb_core::Tags {
        let mut tags = ::std::vec::Vec::with_capacity(2);
        <CourseId as ::dcb_core::TagField>::for_each_id(
            &self.course_id,
            |id| tags.push(::dcb_core::Identifier::tag(id)),
        );
        <StudentId as ::dcb_core::TagField>::for_each_id(
            &self.student_id,
            |id| tags.push(::dcb_core::Identifier::tag(id)),
        );
        ::dcb_core::Tags::from(tags)
    }
    fn encode(
        &self,
    ) -> ::core::result::Result<::std::vec::Vec<u8>, ::dcb_core::codec::CodecError> {
        ::dcb_core::versioning::encode(self)
    }
    fn decode(
        data: &[u8],
    ) -> ::core::result::Result<Self, ::dcb_core::codec::CodecError> {
        ::dcb_core::versioning::decode(data)
    }
}
#[automatically_derived]
impl ::dcb_core::HasTag<CourseId> for StudentJoinedCourse {}
#[automatically_derived]
impl ::dcb_core::HasTag<StudentId> for StudentJoinedCourse {}
/// Fails the build if two tag fields have one prefix but are not
/// tags of one id type.
const _: () = {
    use ::dcb_core::__private::DifferentIdTypes as _;
    /// The tag fields, by name, and their prefixes.
    const TAGS: &[(&str, &str)] = &[
        (
            "`course_id`",
            <<CourseId as ::dcb_core::TagField>::Id as ::dcb_core::Identifier>::PREFIX,
        ),
        (
            "`student_id`",
            <<StudentId as ::dcb_core::TagField>::Id as ::dcb_core::Identifier>::PREFIX,
        ),
    ];
    ::dcb_core::__private::distinct_id_prefixes(
        TAGS,
        0,
        1,
        ::dcb_core::__private::IdTypes::<
            <CourseId as ::dcb_core::TagField>::Id,
            <StudentId as ::dcb_core::TagField>::Id,
        >::SAME,
    );
};
::dcb_core::__private::inventory::submit! {
    ::dcb_core::registry::Registration::of:: < StudentJoinedCourse > ()
}
