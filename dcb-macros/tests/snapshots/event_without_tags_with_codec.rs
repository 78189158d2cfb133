// The expansion of #[derive(Event)] on the fixture `event_without_tags_with_codec` (dcb-macros/src/tests/).
// Regenerate with `UPDATE_EXPECT=1 cargo test -p dcb-macros` and review the diff.
//
// #[derive(Event, Serialize, Deserialize)]
// #[event(codec = crate::codecs::MessagePack)]
// pub struct TermStarted {
//     pub term: u32,
// }

#[automatically_derived]
impl ::dcb_core::Event for TermStarted {
    const NAME: &'static str = "TermStarted";
    fn tags(&self) -> ::dcb_core::Tags {
        ::dcb_core::Tags::new()
    }
    fn encode(
        &self,
    ) -> ::core::result::Result<::std::vec::Vec<u8>, ::dcb_core::codec::CodecError> {
        <crate::codecs::MessagePack as ::dcb_core::codec::Codec>::encode(self)
    }
    fn decode(
        data: &[u8],
    ) -> ::core::result::Result<Self, ::dcb_core::codec::CodecError> {
        <crate::codecs::MessagePack as ::dcb_core::codec::Codec>::decode(data)
    }
}
::dcb_core::__private::inventory::submit! {
    ::dcb_core::registry::Registration::of:: < TermStarted > ()
}
