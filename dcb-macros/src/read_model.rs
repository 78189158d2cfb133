//! `#[read_model]` on an impl block of handlers: parse, validate, expand.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Item, ItemImpl, Type};

use crate::ctxt::{Ctxt, with_errors};
use crate::handler::{Handled, Kind, handled, parse_handlers, strip_handler_attrs};

pub fn attribute(args: &TokenStream, item: TokenStream) -> TokenStream {
    let item = match syn::parse2::<Item>(item) {
        Ok(item) => item,
        Err(err) => return err.to_compile_error(),
    };
    let mut cx = Ctxt::default();
    if !args.is_empty() {
        cx.error_spanned_by(args, "`#[read_model]` takes no arguments");
    }
    match item {
        Item::Impl(block) => handler_impl(cx, block),
        Item::Struct(state) => {
            cx.error_spanned_by(
                &state.ident,
                format!(
                    "#[read_model] goes on the impl block of handlers, such as \
                     `#[read_model] impl {} {{ fn joined(&mut self, event: &StudentJoined) {{ … }} }}`; \
                     the struct itself needs no attribute",
                    state.ident
                ),
            );
            with_errors(cx, state.into_token_stream())
        }
        other => {
            cx.error_spanned_by(
                &other,
                "#[read_model] goes on the impl block of a read model's handlers",
            );
            with_errors(cx, other.into_token_stream())
        }
    }
}

fn handler_impl(mut cx: Ctxt, mut block: ItemImpl) -> TokenStream {
    let mut derive = true;
    if let Some((_, path, _)) = &block.trait_ {
        cx.error_spanned_by(
            path,
            "#[read_model] goes on the model's own impl block of handlers, not on a trait impl",
        );
        derive = false;
    }
    if !block.generics.params.is_empty() {
        cx.error_spanned_by(
            &block.generics,
            "a read model's impl block cannot be generic",
        );
        derive = false;
    }
    // The errors that leave no read model to derive.
    let mut broken = Ctxt::default();
    let handlers = if derive {
        parse_handlers(&mut cx, &mut broken, &block, Kind::ReadModel)
    } else {
        Vec::new()
    };
    let expansion = match broken.check() {
        Ok(()) if derive => {
            let Handled {
                names,
                distinct_names,
                dispatch,
            } = handled(&handlers);
            expand(&block.self_ty, &names, distinct_names.as_ref(), &dispatch)
        }
        Ok(()) => TokenStream::new(),
        Err(err) => {
            cx.push(err);
            stub(&block.self_ty)
        }
    };
    strip_handler_attrs(&mut block);
    with_errors(cx, quote!(#block #expansion))
}

fn expand(
    self_ty: &Type,
    names: &TokenStream,
    distinct_names: Option<&TokenStream>,
    dispatch: &TokenStream,
) -> TokenStream {
    quote! {
        const _: () = {
            #names

            #distinct_names

            #[automatically_derived]
            impl ::dcb_core::read_model::ReadModel for #self_ty {
                fn query(&self) -> ::dcb_core::Query {
                    ::dcb_core::__private::query(TYPES, ::std::vec::Vec::new())
                }

                fn apply(
                    &mut self,
                    event: &::dcb_core::SequencedEvent,
                ) -> ::core::result::Result<(), ::dcb_core::DecodeError> {
                    let name = event.event_type().as_str();
                    #dispatch
                    ::core::result::Result::Ok(())
                }
            }
        };
    }
}

/// A `ReadModel` impl for handlers the macro could not read, so that the
/// uses of the model do not fail too.
fn stub(self_ty: &Type) -> TokenStream {
    quote! {
        impl ::dcb_core::read_model::ReadModel for #self_ty {
            fn query(&self) -> ::dcb_core::Query {
                ::core::unreachable!()
            }

            fn apply(
                &mut self,
                _: &::dcb_core::SequencedEvent,
            ) -> ::core::result::Result<(), ::dcb_core::DecodeError> {
                ::core::unreachable!()
            }
        }
    }
}
