// The expansion of #[derive(Id)] on the fixture `id_string` (dcb-macros/src/tests/).
// Regenerate with `UPDATE_EXPECT=1 cargo test -p dcb-macros` and review the diff.
//
// #[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
// pub struct StudentAccountId(String);

#[automatically_derived]
impl StudentAccountId {
    /// Checks `value` (non-empty, at most 192 bytes, no control
    /// characters) and wraps it.
    pub fn new(
        value: impl ::core::convert::Into<::std::string::String>,
    ) -> ::core::result::Result<Self, ::dcb_core::ParseIdError> {
        let value = value.into();
        ::dcb_core::__private::id::check_string_id("StudentAccountId", &value)?;
        ::core::result::Result::Ok(Self(value))
    }
    /// The text of this id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
#[automatically_derived]
impl ::dcb_core::Identifier for StudentAccountId {
    const PREFIX: &'static str = "student_account";
    fn tag_with_prefix(&self, prefix: &str) -> ::dcb_core::Tag {
        ::dcb_core::__private::id::tag(prefix, &self.0)
    }
    fn is_tag_with_prefix(&self, prefix: &str, tag: &::dcb_core::Tag) -> bool {
        ::dcb_core::__private::id::is_tag(prefix, &self.0, tag)
    }
}
#[automatically_derived]
impl ::core::fmt::Display for StudentAccountId {
    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
        ::core::fmt::Display::fmt(&self.0, f)
    }
}
#[automatically_derived]
impl ::core::str::FromStr for StudentAccountId {
    type Err = ::dcb_core::ParseIdError;
    fn from_str(text: &str) -> ::core::result::Result<Self, Self::Err> {
        Self::new(text)
    }
}
#[automatically_derived]
impl ::dcb_core::__private::serde::Serialize for StudentAccountId {
    fn serialize<S>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error>
    where
        S: ::dcb_core::__private::serde::Serializer,
    {
        ::dcb_core::__private::serde::Serialize::serialize(&self.0, serializer)
    }
}
#[automatically_derived]
impl<'de> ::dcb_core::__private::serde::Deserialize<'de> for StudentAccountId {
    fn deserialize<D>(deserializer: D) -> ::core::result::Result<Self, D::Error>
    where
        D: ::dcb_core::__private::serde::Deserializer<'de>,
    {
        let text = <::std::string::String as ::dcb_core::__private::serde::Deserialize>::deserialize(
            deserializer,
        )?;
        Self::new(text)
            .map_err(<D::Error as ::dcb_core::__private::serde::de::Error>::custom)
    }
}
