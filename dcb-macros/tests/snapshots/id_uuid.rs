// The expansion of #[derive(Id)] on the fixture `id_uuid` (dcb-macros/src/tests/).
// Regenerate with `UPDATE_EXPECT=1 cargo test -p dcb-macros` and review the diff.
//
// /// A course.
// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
// pub struct CourseId(Uuid);

#[automatically_derived]
#[allow(
    clippy::new_without_default,
    reason = "a new id is random: no id is the default"
)]
impl CourseId {
    /// A new, random id.
    #[must_use]
    pub fn new() -> Self {
        Self(::dcb_core::Uuid::new_v4())
    }
    /// The UUID this id wraps.
    #[must_use]
    pub const fn uuid(&self) -> ::dcb_core::Uuid {
        self.0
    }
}
#[automatically_derived]
impl ::dcb_core::Identifier for CourseId {
    const PREFIX: &'static str = "course";
    fn tag_with_prefix(&self, prefix: &str) -> ::dcb_core::Tag {
        ::dcb_core::__private::id::tag(prefix, &self.0)
    }
    fn is_tag_with_prefix(&self, prefix: &str, tag: &::dcb_core::Tag) -> bool {
        ::dcb_core::__private::id::is_uuid_tag(prefix, &self.0, tag)
    }
}
#[automatically_derived]
impl ::core::fmt::Display for CourseId {
    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
        ::core::fmt::Display::fmt(&self.0, f)
    }
}
#[automatically_derived]
impl ::core::str::FromStr for CourseId {
    type Err = ::dcb_core::ParseIdError;
    fn from_str(text: &str) -> ::core::result::Result<Self, Self::Err> {
        text.parse::<Uuid>()
            .map(Self)
            .map_err(|err| ::dcb_core::__private::id::parse_error("CourseId", text, err))
    }
}
#[automatically_derived]
impl ::dcb_core::__private::serde::Serialize for CourseId {
    fn serialize<S>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error>
    where
        S: ::dcb_core::__private::serde::Serializer,
    {
        ::dcb_core::__private::serde::Serialize::serialize(&self.0, serializer)
    }
}
#[automatically_derived]
impl<'de> ::dcb_core::__private::serde::Deserialize<'de> for CourseId {
    fn deserialize<D>(deserializer: D) -> ::core::result::Result<Self, D::Error>
    where
        D: ::dcb_core::__private::serde::Deserializer<'de>,
    {
        <Uuid as ::dcb_core::__private::serde::Deserialize>::deserialize(deserializer)
            .map(Self)
    }
}
