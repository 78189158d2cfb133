// The expansion of #[derive(Event)] on the fixture `event_with_tags_of_one_kind` (dcb-macros/src/tests/).
// Regenerate with `UPDATE_EXPECT=1 cargo test -p dcb-macros` and review the diff.
//
// /// Tagged with both names, so that a decision about either reads it.
// #[derive(Event, Serialize, Deserialize)]
// pub struct UsernameChanged {
//     #[tag]
//     pub user_id: UserId,
//     #[tag]
//     pub old: Username,
//     #[tag]
//     pub new: Username,
//     #[tag(prefix = "reserved_username")]
//     pub reserved: Option<Username>,
// }

#[automatically_derived]
impl ::dcb_core::Event for UsernameChanged {
    const NAME: &'static str = "UsernameChanged";
    fn tags(&self) -> ::dcb_core::Tags {
        let mut tags = ::std::vec::Vec::with_capacity(4);
        <UserId as ::dcb_core::TagField>::for_each_id(
            &self.user_id,
            |id| tags.push(::dcb_core::Identifier::tag(id)),
        );
        <Username as ::dcb_core::TagField>::for_each_id(
            &self.old,
            |id| tags.push(::dcb_core::Identifier::tag(id)),
        );
        <Username as ::dcb_core::TagField>::for_each_id(
            &self.new,
            |id| tags.push(::dcb_core::Identifier::tag(id)),
        );
        <Option<
            Username,
        > as ::dcb_core::TagField>::for_each_id(
            &self.reserved,
            |id| {
                tags
                    .push(
                        ::dcb_core::Identifier::tag_with_prefix(id, "reserved_username"),
                    )
            },
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
impl ::dcb_core::HasTag<UserId> for UsernameChanged {}
#[automatically_derived]
impl ::dcb_core::HasTag<Username> for UsernameChanged {}
/// Fails the build if two tag fields have one prefix but are not
/// tags of one id type.
const _: () = {
    use ::dcb_core::__private::DifferentIdTypes as _;
    /// The tag fields, by name, and their prefixes.
    const TAGS: &[(&str, &str)] = &[
        (
            "`user_id`",
            <<UserId as ::dcb_core::TagField>::Id as ::dcb_core::Identifier>::PREFIX,
        ),
        (
            "`old`",
            <<Username as ::dcb_core::TagField>::Id as ::dcb_core::Identifier>::PREFIX,
        ),
        (
            "`new`",
            <<Username as ::dcb_core::TagField>::Id as ::dcb_core::Identifier>::PREFIX,
        ),
        ("`reserved`", "reserved_username"),
    ];
    ::dcb_core::__private::distinct_id_prefixes(
        TAGS,
        0,
        1,
        ::dcb_core::__private::IdTypes::<
            <UserId as ::dcb_core::TagField>::Id,
            <Username as ::dcb_core::TagField>::Id,
        >::SAME,
    );
    ::dcb_core::__private::given_prefix_free(TAGS, 3, 0);
    ::dcb_core::__private::given_prefix_free(TAGS, 3, 1);
};
::dcb_core::__private::inventory::submit! {
    ::dcb_core::registry::Registration::of:: < UsernameChanged > ()
}
