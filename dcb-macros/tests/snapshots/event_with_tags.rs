// The expansion of #[derive(Event)] on the fixture `event_with_tags` (dcb-macros/src/tests/).
// Regenerate with `UPDATE_EXPECT=1 cargo test -p dcb-macros` and review the diff.
//
// /// A student moved to a course, maybe from another one.
// #[derive(Event, Serialize, Deserialize)]
// #[event(name = "StudentMovedToCourse.v2")]
// pub struct StudentMoved {
//     #[tag]
//     pub student_id: StudentId,
//     #[tag]
//     pub course_id: CourseId,
//     #[tag(prefix = "previous_course")]
//     pub previous_course_id: Option<CourseId>,
//     #[tag]
//     pub teacher_ids: Vec<TeacherId>,
//     pub reason: String,
// }

#[automatically_derived]
impl ::dcb_core::Event for StudentMoved {
    const NAME: &'static str = "StudentMovedToCourse.v2";
    fn tags(&self) -> ::dcb_core::Tags {
        let mut tags = ::std::vec::Vec::with_capacity(4);
        <StudentId as ::dcb_core::TagField>::for_each_id(
            &self.student_id,
            |id| tags.push(::dcb_core::Identifier::tag(id)),
        );
        <CourseId as ::dcb_core::TagField>::for_each_id(
            &self.course_id,
            |id| tags.push(::dcb_core::Identifier::tag(id)),
        );
        <Option<
            CourseId,
        > as ::dcb_core::TagField>::for_each_id(
            &self.previous_course_id,
            |id| {
                tags.push(::dcb_core::Identifier::tag_with_prefix(id, "previous_course"))
            },
        );
        <Vec<
            TeacherId,
        > as ::dcb_core::TagField>::for_each_id(
            &self.teacher_ids,
            |id| tags.push(::dcb_core::Identifier::tag(id)),
        );
        ::dcb_core::Tags::from(tags)
    }
    fn encode(
        &self,
    ) -> ::core::result::Result<::std::vec::Vec<u8>, ::dcb_core::codec::CodecError> {
        <::dcb_core::codec::Json as ::dcb_core::codec::Codec>::encode(self)
    }
    fn decode(
        data: &[u8],
    ) -> ::core::result::Result<Self, ::dcb_core::codec::CodecError> {
        <::dcb_core::codec::Json as ::dcb_core::codec::Codec>::decode(data)
    }
}
#[automatically_derived]
impl ::dcb_core::HasTag<StudentId> for StudentMoved {}
#[automatically_derived]
impl ::dcb_core::HasTag<CourseId> for StudentMoved {}
/// Fails the build if two tag fields have one prefix but are not
/// tags of one id type.
const _: () = {
    use ::dcb_core::__private::DifferentIdTypes as _;
    /// The tag fields, by name, and their prefixes.
    const TAGS: &[(&str, &str)] = &[
        (
            "`student_id`",
            <<StudentId as ::dcb_core::TagField>::Id as ::dcb_core::Identifier>::PREFIX,
        ),
        (
            "`course_id`",
            <<CourseId as ::dcb_core::TagField>::Id as ::dcb_core::Identifier>::PREFIX,
        ),
        ("`previous_course_id`", "previous_course"),
        (
            "`teacher_ids`",
            <<Vec<
                TeacherId,
            > as ::dcb_core::TagField>::Id as ::dcb_core::Identifier>::PREFIX,
        ),
    ];
    ::dcb_core::__private::distinct_id_prefixes(
        TAGS,
        0,
        1,
        ::dcb_core::__private::IdTypes::<
            <StudentId as ::dcb_core::TagField>::Id,
            <CourseId as ::dcb_core::TagField>::Id,
        >::SAME,
    );
    ::dcb_core::__private::given_prefix_free(TAGS, 2, 0);
    ::dcb_core::__private::given_prefix_free(TAGS, 2, 1);
    ::dcb_core::__private::distinct_id_prefixes(
        TAGS,
        0,
        3,
        ::dcb_core::__private::IdTypes::<
            <StudentId as ::dcb_core::TagField>::Id,
            <Vec<TeacherId> as ::dcb_core::TagField>::Id,
        >::SAME,
    );
    ::dcb_core::__private::distinct_id_prefixes(
        TAGS,
        1,
        3,
        ::dcb_core::__private::IdTypes::<
            <CourseId as ::dcb_core::TagField>::Id,
            <Vec<TeacherId> as ::dcb_core::TagField>::Id,
        >::SAME,
    );
    ::dcb_core::__private::given_prefix_free(TAGS, 2, 3);
};
::dcb_core::__private::inventory::submit! {
    ::dcb_core::registry::Registration::of:: < StudentMoved > ()
}
