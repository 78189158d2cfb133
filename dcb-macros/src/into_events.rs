//! `#[derive(IntoEvents)]`: an enum whose variants each hold the events of
//! one outcome of a command; parse, validate, expand.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::ctxt::Ctxt;

pub fn derive(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<DeriveInput>(input) {
        Ok(input) => input,
        Err(err) => return err.to_compile_error(),
    };
    match parse(&input) {
        Ok(outcomes) => expand(&outcomes),
        Err(err) => fallback(&input, &err),
    }
}

/// The errors, and for an enum a stub impl, so that a command returning it
/// is not reported too.
fn fallback(input: &DeriveInput, err: &syn::Error) -> TokenStream {
    let mut tokens = err.to_compile_error();
    if input.generics.params.is_empty() && matches!(input.data, Data::Enum(_)) {
        let ident = &input.ident;
        tokens.extend(quote! {
            impl ::dcb_core::IntoEvents for #ident {
                fn into_events(
                    self,
                    _: &mut ::std::vec::Vec<::dcb_core::EventRecord>,
                ) -> ::core::result::Result<(), ::dcb_core::EncodeError> {
                    ::core::unreachable!()
                }
            }
        });
    }
    tokens
}

/// A parsed and validated `#[derive(IntoEvents)]` input.
struct Outcomes<'a> {
    ident: &'a Ident,
    variants: Vec<Outcome<'a>>,
}

/// A variant: its name and the type of its one field, the events it
/// appends.
struct Outcome<'a> {
    ident: &'a Ident,
    events: &'a Type,
}

/// The shape a variant has, for messages.
const SHAPE: &str = "a variant holds the events it appends in one unnamed field, \
                     such as `Joined(StudentJoined)`";

fn parse(input: &DeriveInput) -> Result<Outcomes<'_>, syn::Error> {
    let mut cx = Ctxt::default();
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(
            &input.generics,
            "an enum of events cannot be generic: name the event type each variant holds",
        );
    }
    let variants = match &input.data {
        Data::Enum(data) => data
            .variants
            .iter()
            .filter_map(|variant| {
                let ident = &variant.ident;
                match &variant.fields {
                    Fields::Unnamed(fields) if fields.unnamed.len() == 1 => Some(Outcome {
                        ident,
                        events: &fields.unnamed[0].ty,
                    }),
                    Fields::Unnamed(fields) => {
                        let message = if fields.unnamed.is_empty() {
                            format!("`{ident}()` holds no event: {SHAPE}; for none, `{ident}(())`")
                        } else {
                            format!(
                                "`{ident}` has {} fields: {SHAPE}; several events go in a tuple, \
                                 such as `{ident}((StudentJoined, CourseFilled))`",
                                fields.unnamed.len()
                            )
                        };
                        cx.error_spanned_by(fields, message);
                        None
                    }
                    Fields::Named(fields) => {
                        cx.error_spanned_by(
                            fields,
                            format!(
                                "`{ident}` has named fields: {SHAPE}; make these fields an \
                                 event type of their own, with `#[derive(Event)]`, and hold it"
                            ),
                        );
                        None
                    }
                    Fields::Unit => {
                        cx.error_spanned_by(
                            ident,
                            format!(
                                "`{ident}` holds no event: {SHAPE}; for a variant that appends \
                                 nothing, `{ident}(())`"
                            ),
                        );
                        None
                    }
                }
            })
            .collect(),
        Data::Struct(data) => {
            cx.error_spanned_by(
                data.struct_token,
                "#[derive(IntoEvents)] goes on an enum whose variants each hold the events of \
                 one outcome, such as `enum Enrolment { Joined(StudentJoined), Waitlisted(StudentWaitlisted) }`; \
                 a struct that is an event needs `#[derive(Event)]`, and returns as it is",
            );
            Vec::new()
        }
        Data::Union(data) => {
            cx.error_spanned_by(
                data.union_token,
                "#[derive(IntoEvents)] goes on an enum whose variants each hold the events of \
                 one outcome, not on a union",
            );
            Vec::new()
        }
    };
    cx.check()?;
    Ok(Outcomes {
        ident: &input.ident,
        variants,
    })
}

fn expand(outcomes: &Outcomes<'_>) -> TokenStream {
    let ident = outcomes.ident;
    // Each call is spanned at the variant's field type, so that a type that
    // is not an event is reported there.
    let arms = outcomes.variants.iter().map(|Outcome { ident, events }| {
        let call = quote_spanned! {events.span()=>
            <#events as ::dcb_core::IntoEvents>::into_events(events, out)
        };
        quote!(Self::#ident(events) => #call,)
    });
    quote! {
        #[automatically_derived]
        impl ::dcb_core::IntoEvents for #ident {
            fn into_events(
                self,
                out: &mut ::std::vec::Vec<::dcb_core::EventRecord>,
            ) -> ::core::result::Result<(), ::dcb_core::EncodeError> {
                match self {
                    #(#arms)*
                }
            }
        }
    }
}
