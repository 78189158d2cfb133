//! `#[decision]` on state structs and on impl blocks of handlers.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Item, Meta};

use super::assert_snapshot;

/// Expands the `#[decision]` items of a fixture one after the other.
#[track_caller]
fn snapshot(name: &str, items: &[TokenStream]) {
    let input: TokenStream = items.iter().cloned().collect();
    let expansion = items.iter().map(expand).collect();
    assert_snapshot(name, "#[decision]", &input, expansion);
}

/// What the compiler does with an attribute macro: takes the attribute
/// off the item and calls the macro with its arguments and the rest.
fn expand(item: &TokenStream) -> TokenStream {
    let mut item: Item = syn::parse2(item.clone()).expect("a fixture is an item");
    let attrs = match &mut item {
        Item::Struct(item) => &mut item.attrs,
        Item::Impl(item) => &mut item.attrs,
        _ => panic!("a #[decision] fixture is a struct or an impl block"),
    };
    let index = attrs
        .iter()
        .position(|attr| attr.path().is_ident("decision"))
        .expect("a #[decision] fixture carries #[decision]");
    let args = match attrs.remove(index).meta {
        Meta::Path(_) => TokenStream::new(),
        Meta::List(list) => list.tokens,
        Meta::NameValue(_) => panic!("#[decision = ...] is not an attribute macro call"),
    };
    crate::decision::attribute(&args, item.into_token_stream())
}

#[test]
fn decision_state_with_two_boundary_ids() {
    snapshot(
        "decision_state_with_two_boundary_ids",
        &[quote! {
            /// Whether a student is subscribed to a course.
            #[decision]
            pub struct Subscription {
                #[boundary]
                pub course_id: CourseId,
                #[boundary]
                pub student_id: StudentId,
                subscribed: bool,
                reminders: u32,
            }
        }],
    );
}

#[test]
fn decision_handlers_with_no_conflict() {
    snapshot(
        "decision_handlers_with_no_conflict",
        &[quote! {
            #[decision]
            impl Subscription {
                fn subscribed(&mut self, _: &StudentSubscribed) {
                    self.subscribed = true;
                }

                fn unsubscribed(&mut self, _: &StudentUnsubscribed) {
                    self.subscribed = false;
                }

                /// Reminders do not change whether a student may
                /// subscribe, so one sent meanwhile is no conflict.
                #[no_conflict]
                fn reminded(&mut self, _: &ReminderSent) {
                    self.reminders += 1;
                }
            }
        }],
    );
}

#[test]
fn decision_without_boundary() {
    snapshot(
        "decision_without_boundary",
        &[
            quote! {
                /// How many courses exist, across the whole system.
                #[decision(global)]
                struct CourseCount {
                    courses: u32,
                }
            },
            quote! {
                #[decision]
                impl CourseCount {
                    fn registered(&mut self, _: &CourseRegistered) {
                        self.courses += 1;
                    }
                }
            },
        ],
    );
}

#[test]
fn decision_latest_with_param_and_position() {
    snapshot(
        "decision_latest_with_param_and_position",
        &[
            quote! {
                /// The product's latest price, and whether the price a
                /// customer was shown is still valid.
                #[decision(latest)]
                pub struct Price {
                    #[boundary]
                    product_id: ProductId,
                    #[param]
                    shown_cents: u64,
                    valid: bool,
                    changed_at: Option<Position>,
                }
            },
            quote! {
                #[decision]
                impl Price {
                    fn changed(&mut self, event: &PriceChanged, position: Position) {
                        self.valid = event.cents == self.shown_cents;
                        self.changed_at = Some(position);
                    }
                }
            },
        ],
    );
}
