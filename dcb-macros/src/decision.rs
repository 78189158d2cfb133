//! `#[decision]` on a state struct and on its impl block of handlers:
//! parse, validate, expand.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    Attribute, Field, Fields, FnArg, Ident, ImplItem, ImplItemFn, Item, ItemImpl, ItemStruct, Pat,
    ReturnType, Type, Visibility,
};

use crate::ctxt::Ctxt;
use crate::symbol::{BOUNDARY, NO_CONFLICT};

pub fn attribute(args: &TokenStream, item: TokenStream) -> TokenStream {
    let item = match syn::parse2::<Item>(item) {
        Ok(item) => item,
        Err(err) => return err.to_compile_error(),
    };
    let mut cx = Ctxt::default();
    if !args.is_empty() {
        cx.error_spanned_by(args, "`#[decision]` takes no arguments");
    }
    match item {
        Item::Struct(state) => state_struct(cx, state),
        Item::Impl(handlers) => handler_impl(cx, handlers),
        other => {
            cx.error_spanned_by(
                &other,
                "#[decision] goes on the state struct and on its impl block of handlers",
            );
            fallback(cx, other.into_token_stream())
        }
    }
}

/// The item as written (without the macro's own attributes), after the
/// errors: the user sees the mistake, not a cascade from a missing item.
fn fallback(cx: Ctxt, item: TokenStream) -> TokenStream {
    let mut tokens = cx
        .check()
        .err()
        .map(|e| e.to_compile_error())
        .unwrap_or_default();
    tokens.extend(item);
    tokens
}

fn is_attr(attr: &Attribute, name: crate::symbol::Symbol) -> bool {
    attr.path() == name
}

// ---------------------------------------------------------------------------
// The state struct.

/// A `#[boundary]` field.
struct BoundaryField<'a> {
    ident: &'a Ident,
    ty: &'a Type,
}

fn state_struct(mut cx: Ctxt, mut state: ItemStruct) -> TokenStream {
    if !state.generics.params.is_empty() {
        cx.error_spanned_by(&state.generics, "a decision's state cannot be generic");
    }
    let named = match &state.fields {
        Fields::Named(fields) => Some(fields),
        other => {
            cx.error_spanned_by(
                other,
                "a decision's state is a struct with named fields, such as `struct CourseCapacity { #[boundary] course_id: CourseId, joined: u32 }`",
            );
            None
        }
    };
    let mut boundary_count = 0;
    if let Some(fields) = named {
        for field in &fields.named {
            let mut marks = field.attrs.iter().filter(|a| is_attr(a, BOUNDARY));
            if let Some(mark) = marks.next() {
                boundary_count += 1;
                if !matches!(mark.meta, syn::Meta::Path(_)) {
                    cx.error_spanned_by(mark, "`#[boundary]` takes no arguments");
                }
            }
            for repeat in marks {
                cx.error_spanned_by(
                    repeat,
                    "`#[boundary]` is given twice on this field; keep one",
                );
            }
        }
    }
    if let Err(err) = cx.check() {
        strip_field_attrs(&mut state);
        let mut tokens = err.to_compile_error();
        tokens.extend(state.into_token_stream());
        return tokens;
    }
    let fields: Vec<&Field> = named.map(|f| f.named.iter().collect()).unwrap_or_default();
    let boundary: Vec<BoundaryField<'_>> = fields
        .iter()
        .filter(|f| f.attrs.iter().any(|a| is_attr(a, BOUNDARY)))
        .filter_map(|f| {
            Some(BoundaryField {
                ident: f.ident.as_ref()?,
                ty: &f.ty,
            })
        })
        .collect();
    debug_assert_eq!(boundary.len(), boundary_count);
    let others: Vec<&Ident> = fields
        .iter()
        .filter(|f| !f.attrs.iter().any(|a| is_attr(a, BOUNDARY)))
        .filter_map(|f| f.ident.as_ref())
        .collect();
    let expansion = expand_state(&state, &boundary, &others);
    let mut stripped = state.clone();
    strip_field_attrs(&mut stripped);
    quote! {
        #stripped
        #expansion
    }
}

fn strip_field_attrs(state: &mut ItemStruct) {
    for field in &mut state.fields {
        field.attrs.retain(|a| !is_attr(a, BOUNDARY));
    }
}

fn expand_state(
    state: &ItemStruct,
    boundary: &[BoundaryField<'_>],
    others: &[&Ident],
) -> TokenStream {
    let ident = &state.ident;
    let vis = match &state.vis {
        Visibility::Inherited => quote!(),
        vis => vis.to_token_stream(),
    };
    let params = boundary
        .iter()
        .map(|BoundaryField { ident, ty }| quote!(#ident: #ty));
    let boundary_idents: Vec<&Ident> = boundary.iter().map(|b| b.ident).collect();
    let id_types = boundary.iter().map(|b| b.ty);
    let id_checks = boundary.iter().map(|BoundaryField { ident, ty }| {
        quote_spanned! {ty.span()=>
            tags.iter().any(|tag| ::dcb_core::Identifier::is_tag(&self.#ident, tag))
        }
    });
    let tag_list = boundary.iter().map(|BoundaryField { ident, ty }| {
        quote_spanned! {ty.span()=> ::dcb_core::Identifier::tag(&self.#ident) }
    });
    let in_boundary = if boundary.is_empty() {
        quote!(true)
    } else {
        quote! {
            let tags = event.tags();
            #(#id_checks)&&*
        }
    };
    let event_param = if boundary.is_empty() {
        quote!(_event)
    } else {
        quote!(event)
    };
    let new_doc = if boundary.is_empty() {
        "The state before any event.".to_owned()
    } else {
        let names: Vec<String> = boundary.iter().map(|b| format!("`{}`", b.ident)).collect();
        format!(
            "The state before any event, for the boundary {}.",
            names.join(", ")
        )
    };
    quote! {
        impl #ident {
            #[doc = #new_doc]
            #[must_use]
            #vis fn new(#(#params),*) -> Self {
                Self {
                    #(#boundary_idents,)*
                    #(#others: ::core::default::Default::default(),)*
                }
            }
        }

        #[automatically_derived]
        impl ::dcb_core::Boundary for #ident {
            type Ids = (#(#id_types,)*);

            fn boundary_tags(&self) -> ::std::vec::Vec<::dcb_core::Tag> {
                ::std::vec![#(#tag_list),*]
            }

            fn in_boundary(&self, #event_param: &::dcb_core::Event) -> bool {
                #in_boundary
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The impl block of handlers.

/// A handler: `fn name(&mut self, event: &E)`.
struct Handler<'a> {
    ident: &'a Ident,
    event: &'a Type,
    conflicts: bool,
}

fn handler_impl(mut cx: Ctxt, mut block: ItemImpl) -> TokenStream {
    if let Some((_, path, _)) = &block.trait_ {
        cx.error_spanned_by(
            path,
            "#[decision] goes on the state's own impl block, not on a trait impl",
        );
    }
    if !block.generics.params.is_empty() {
        cx.error_spanned_by(&block.generics, "a decision's impl block cannot be generic");
    }
    let mut handlers: Vec<Handler<'_>> = Vec::new();
    for item in &block.items {
        match item {
            ImplItem::Fn(function) => {
                if let Some(handler) = parse_handler(&mut cx, function) {
                    let repeated = handlers
                        .iter()
                        .any(|h| h.event.to_token_stream().to_string() == handler.event.to_token_stream().to_string());
                    if repeated {
                        cx.error_spanned_by(
                            handler.event,
                            "another handler of this decision already handles this event type; merge them into one",
                        );
                    }
                    handlers.push(handler);
                }
            }
            other => cx.error_spanned_by(
                other,
                "a #[decision] impl block holds only handlers, `fn on_x(&mut self, event: &X)`; put other items in another impl block",
            ),
        }
    }
    if block.items.is_empty() {
        cx.error_spanned_by(
            &block.self_ty,
            "a decision needs at least one handler, such as `fn registered(&mut self, event: &CourseRegistered)`",
        );
    }
    let expansion = cx
        .check()
        .map(|()| expand_handlers(&block.self_ty, &handlers));
    strip_handler_attrs(&mut block);
    match expansion {
        Ok(expansion) => quote! {
            #block
            #expansion
        },
        Err(err) => {
            let mut tokens = err.to_compile_error();
            tokens.extend(block.into_token_stream());
            tokens
        }
    }
}

fn strip_handler_attrs(block: &mut ItemImpl) {
    for item in &mut block.items {
        if let ImplItem::Fn(function) = item {
            function.attrs.retain(|a| !is_attr(a, NO_CONFLICT));
        }
    }
}

/// What every handler error message ends with.
const HANDLER_SHAPE: &str = "a handler is `fn name(&mut self, event: &EventType)`";

fn parse_handler<'a>(cx: &mut Ctxt, function: &'a ImplItemFn) -> Option<Handler<'a>> {
    let sig = &function.sig;
    // This handler's own errors: it is kept only if there are none.
    let mut errors = Ctxt::default();
    if let Some(asyncness) = &sig.asyncness {
        errors.error_spanned_by(
            asyncness,
            format!("a handler cannot be async: it only folds state; {HANDLER_SHAPE}"),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.error_spanned_by(
            &sig.generics,
            format!("a handler cannot be generic; {HANDLER_SHAPE}"),
        );
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        errors.error_spanned_by(
            ty,
            format!("a handler returns nothing: it only changes the state; {HANDLER_SHAPE}"),
        );
    }
    let conflicts = parse_no_conflict(&mut errors, &function.attrs);
    let event = parse_inputs(&mut errors, sig);
    if let Err(err) = errors.check() {
        cx.push(err);
        return None;
    }
    Some(Handler {
        ident: &sig.ident,
        event: event?,
        conflicts,
    })
}

/// Whether the handler's event type belongs in the append condition: it
/// does unless the handler is marked `#[no_conflict]`.
fn parse_no_conflict(errors: &mut Ctxt, attrs: &[Attribute]) -> bool {
    let mut conflicts = true;
    for attr in attrs.iter().filter(|a| is_attr(a, NO_CONFLICT)) {
        if !conflicts {
            errors.error_spanned_by(attr, "`#[no_conflict]` is given twice; keep one");
        }
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            errors.error_spanned_by(attr, "`#[no_conflict]` takes no arguments");
        }
        conflicts = false;
    }
    conflicts
}

/// Checks `(&mut self, event: &E)` and returns `E`.
fn parse_inputs<'a>(errors: &mut Ctxt, sig: &'a syn::Signature) -> Option<&'a Type> {
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver))
            if receiver.reference.is_some() && receiver.mutability.is_some() => {}
        Some(FnArg::Receiver(receiver)) => {
            errors.error_spanned_by(
                receiver,
                format!("a handler takes `&mut self`; {HANDLER_SHAPE}"),
            );
        }
        _ => errors.error_spanned_by(
            &sig.ident,
            format!("a handler takes `&mut self` first; {HANDLER_SHAPE}"),
        ),
    }
    let event = if let Some(FnArg::Typed(arg)) = inputs.next() {
        match &*arg.ty {
            Type::Reference(reference) if reference.mutability.is_none() => {
                if !matches!(&*arg.pat, Pat::Ident(_) | Pat::Wild(_)) {
                    errors.error_spanned_by(
                        &arg.pat,
                        format!("name the event with an identifier or `_`; {HANDLER_SHAPE}"),
                    );
                }
                Some(&*reference.elem)
            }
            other => {
                errors.error_spanned_by(
                    other,
                    format!(
                        "a handler borrows its event: `&{}`; {HANDLER_SHAPE}",
                        other.to_token_stream()
                    ),
                );
                None
            }
        }
    } else {
        errors.push(syn::Error::new(
            sig.paren_token.span.join(),
            format!("a handler takes the event it handles; {HANDLER_SHAPE}"),
        ));
        None
    };
    if let Some(extra) = inputs.next() {
        errors.error_spanned_by(
            extra,
            format!("a handler takes only its event; {HANDLER_SHAPE}"),
        );
    }
    event
}

fn expand_handlers(self_ty: &Type, handlers: &[Handler<'_>]) -> TokenStream {
    let checks = handlers.iter().map(|Handler { event, .. }| {
        quote_spanned! {event.span()=>
            handles::<#event>();
        }
    });
    let event_types: Vec<TokenStream> = handlers
        .iter()
        .map(|h| {
            let event = h.event;
            quote!(<#event as ::dcb_core::DomainEvent>::EVENT_TYPE)
        })
        .collect();
    let names = handlers.iter().map(|h| {
        let event = h.event;
        quote!(<#event as ::dcb_core::DomainEvent>::NAME)
    });
    let dispatch = handlers.iter().map(|Handler { ident, event, .. }| {
        quote! {
            if name == <#event as ::dcb_core::DomainEvent>::NAME {
                self.#ident(&<#event as ::dcb_core::DomainEvent>::from_event(event)?);
            }
        }
    });
    let dispatch = quote!(#(#dispatch)else*);
    let handled = handlers.iter().map(|h| {
        let event = h.event;
        quote!(name == <#event as ::dcb_core::DomainEvent>::NAME)
    });
    let condition = if handlers.iter().all(|h| h.conflicts) {
        quote!()
    } else {
        let conflicting = handlers.iter().filter(|h| h.conflicts).map(|h| {
            let event = h.event;
            quote!(<#event as ::dcb_core::DomainEvent>::EVENT_TYPE)
        });
        quote! {
            fn condition(&self, _query: &::dcb_core::Query) -> ::dcb_core::Query {
                ::dcb_core::Query::from(
                    ::dcb_core::QueryItem::new()
                        .types([#(#conflicting),*])
                        .tags(::dcb_core::Boundary::boundary_tags(self)),
                )
            }
        }
    };
    let distinct = (handlers.len() > 1).then(|| {
        quote! {
            const _: () = ::dcb_core::__private::assert_distinct_event_types(&[#(#names),*]);
        }
    });
    quote! {
        const _: () = {
            /// Each handled event must carry every boundary tag, or the
            /// decision's query could not select it.
            fn handles<E: ::dcb_core::HasTags<<#self_ty as ::dcb_core::Boundary>::Ids>>() {}

            #[allow(dead_code)]
            fn check_handlers() {
                #(#checks)*
            }

            #distinct

            #[automatically_derived]
            impl ::dcb_core::Projection for #self_ty {
                fn query(&self) -> ::dcb_core::Query {
                    ::dcb_core::Query::from(
                        ::dcb_core::QueryItem::new()
                            .types([#(#event_types),*])
                            .tags(::dcb_core::Boundary::boundary_tags(self)),
                    )
                }

                #condition

                fn selects(&self, event: &::dcb_core::SequencedEvent) -> bool {
                    let name = event.event_type().as_str();
                    (#(#handled)||*) && ::dcb_core::Boundary::in_boundary(self, event)
                }

                fn apply(
                    &mut self,
                    event: &::dcb_core::SequencedEvent,
                ) -> ::core::result::Result<(), ::dcb_core::domain::DecodeError> {
                    let name = event.event_type().as_str();
                    #dispatch
                    ::core::result::Result::Ok(())
                }
            }
        };
    }
}
