// The expansion of #[decision] on the fixture `decision_latest_with_param_and_position` (dcb-macros/src/tests/).
// Regenerate with `UPDATE_EXPECT=1 cargo test -p dcb-macros` and review the diff.
//
// /// The product's latest price, and whether the price a
// /// customer was shown is still valid.
// #[decision(latest)]
// pub struct Price {
//     #[boundary]
//     product_id: ProductId,
//     #[param]
//     shown_cents: u64,
//     valid: bool,
//     changed_at: Option<Position>,
// }
// #[decision]
// impl Price {
//     fn changed(&mut self, event: &PriceChanged, position: Position) {
//         self.valid = event.cents == self.shown_cents;
//         self.changed_at = Some(position);
//     }
// }

/// The product's latest price, and whether the price a
/// customer was shown is still valid.
pub struct Price {
    product_id: ProductId,
    shown_cents: u64,
    valid: bool,
    changed_at: Option<Position>,
}
impl Price {
    /// The state before any event, for `product_id`, `shown_cents`.
    #[must_use]
    pub fn new(product_id: ProductId, shown_cents: u64) -> Self {
        use ::dcb_core::__private::{NoDefault as _, ViaDefault as _};
        Self {
            product_id,
            shown_cents,
            valid: (&::dcb_core::__private::Start::<bool>::new()).start(),
            changed_at: (&::dcb_core::__private::Start::<Option<Position>>::new())
                .start(),
        }
    }
}
#[automatically_derived]
impl ::dcb_core::Boundary for Price {
    type Ids = (ProductId,);
    const LATEST: ::core::option::Option<::core::num::NonZeroUsize> = ::core::num::NonZeroUsize::new(
        1,
    );
    const HAS_PARAMS: bool = true;
    fn boundary_tags(&self) -> ::std::vec::Vec<::dcb_core::Tag> {
        ::std::vec::Vec::from([
            <ProductId as ::dcb_core::Identifier>::tag(&self.product_id),
        ])
    }
    fn in_boundary(&self, event: &::dcb_core::EventRecord) -> bool {
        let tags = event.tags();
        tags.iter()
            .any(|tag| <ProductId as ::dcb_core::Identifier>::is_tag(
                &self.product_id,
                tag,
            ))
    }
}
/// Fails the build if the impl block of handlers lacks `#[decision]`.
const _: () = {
    fn projection<P: ::dcb_core::Projection>() {}
    #[allow(dead_code)]
    fn check() {
        projection::<Price>();
    }
};
impl Price {
    fn changed(&mut self, event: &PriceChanged, position: Position) {
        self.valid = event.cents == self.shown_cents;
        self.changed_at = Some(position);
    }
}
const _: () = {
    /// Type-checked, never called: each handled event type carries every boundary tag.
    #[allow(dead_code)]
    fn check_handlers() {
        use ::dcb_core::__private::{CheckTags as _, Unchecked as _};
        (&::dcb_core::__private::Handles::<Price, PriceChanged>::new()).check();
    }
    /// The stored names of the handled event types, in the handlers' order.
    const HANDLED: [&str; 1] = [<PriceChanged as ::dcb_core::Event>::NAME];
    /// The handled event types.
    const TYPES: [::dcb_core::EventType; 1] = ::dcb_core::__private::event_types(
        HANDLED,
    );
    #[automatically_derived]
    impl ::dcb_core::Projection for Price {
        const LATEST: ::core::option::Option<::core::num::NonZeroUsize> = <Price as ::dcb_core::Boundary>::LATEST;
        fn query(&self) -> ::dcb_core::Query {
            ::dcb_core::__private::query(
                TYPES,
                <Price as ::dcb_core::Boundary>::boundary_tags(self),
            )
        }
        fn selects(&self, event: &::dcb_core::SequencedEvent) -> bool {
            HANDLED.contains(&event.event_type().as_str())
                && <Price as ::dcb_core::Boundary>::in_boundary(self, event)
        }
        fn apply(
            &mut self,
            event: &::dcb_core::SequencedEvent,
        ) -> ::core::result::Result<(), ::dcb_core::DecodeError> {
            let name = event.event_type().as_str();
            if name == HANDLED[0] {
                self.changed(
                    &::dcb_core::Event::from_event(event)?,
                    ::dcb_core::__private::context(event),
                );
            }
            ::core::result::Result::Ok(())
        }
    }
};
