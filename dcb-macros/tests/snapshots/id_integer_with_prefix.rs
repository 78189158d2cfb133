// The expansion of #[derive(Id)] on the fixture `id_integer_with_prefix` (dcb-macros/src/tests/).
// Regenerate with `UPDATE_EXPECT=1 cargo test -p dcb-macros` and review the diff.
//
// #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
// #[id(prefix = "invoice")]
// pub struct InvoiceNumber(u64);

#[automatically_derived]
impl InvoiceNumber {
    /// The id with this number.
    #[must_use]
    pub const fn new(value: u64) -> Self {
        Self(value)
    }
    /// The number this id wraps.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}
#[automatically_derived]
impl ::dcb_core::Identifier for InvoiceNumber {
    const PREFIX: &'static str = "invoice";
    fn tag_with_prefix(&self, prefix: &str) -> ::dcb_core::Tag {
        ::dcb_core::__private::id::tag(prefix, &self.0)
    }
    fn is_tag_with_prefix(&self, prefix: &str, tag: &::dcb_core::Tag) -> bool {
        ::dcb_core::__private::id::is_int_tag(prefix, self.0, tag)
    }
}
#[automatically_derived]
impl ::core::fmt::Display for InvoiceNumber {
    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
        ::core::fmt::Display::fmt(&self.0, f)
    }
}
#[automatically_derived]
impl ::core::str::FromStr for InvoiceNumber {
    type Err = ::dcb_core::ParseIdError;
    fn from_str(text: &str) -> ::core::result::Result<Self, Self::Err> {
        text.parse::<u64>()
            .map(Self)
            .map_err(|err| ::dcb_core::__private::id::parse_error(
                "InvoiceNumber",
                text,
                err,
            ))
    }
}
#[automatically_derived]
impl ::dcb_core::__private::serde::Serialize for InvoiceNumber {
    fn serialize<S>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error>
    where
        S: ::dcb_core::__private::serde::Serializer,
    {
        ::dcb_core::__private::serde::Serialize::serialize(&self.0, serializer)
    }
}
#[automatically_derived]
impl<'de> ::dcb_core::__private::serde::Deserialize<'de> for InvoiceNumber {
    fn deserialize<D>(deserializer: D) -> ::core::result::Result<Self, D::Error>
    where
        D: ::dcb_core::__private::serde::Deserializer<'de>,
    {
        <u64 as ::dcb_core::__private::serde::Deserialize>::deserialize(deserializer)
            .map(Self)
    }
}
