//! `#[decision]` on a state struct and on its impl block of handlers:
//! parse, validate, expand.

use proc_macro2::{Literal, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    Attribute, Field, Fields, FnArg, Ident, ImplItem, ImplItemFn, Item, ItemImpl, ItemStruct, Pat,
    ReturnType, Type, Visibility,
};

use crate::ctxt::{Ctxt, with_errors};
use crate::symbol::{BOUNDARY, GLOBAL, NO_CONFLICT};

pub fn attribute(args: &TokenStream, item: TokenStream) -> TokenStream {
    let item = match syn::parse2::<Item>(item) {
        Ok(item) => item,
        Err(err) => return err.to_compile_error(),
    };
    let mut cx = Ctxt::default();
    let global = parse_args(&mut cx, args, matches!(item, Item::Struct(_)));
    match item {
        Item::Struct(state) => state_struct(cx, state, global),
        Item::Impl(handlers) => handler_impl(cx, handlers),
        other => {
            cx.error_spanned_by(
                item_head(&other),
                "#[decision] goes on the state struct and on its impl block of handlers",
            );
            with_errors(cx, other.into_token_stream())
        }
    }
}

/// The attribute's arguments: none, or `global` on a state struct (a
/// projection without boundary ids, over the whole store). A mistake is
/// not a reason to stop: the item is expanded as if the attribute were
/// bare.
fn parse_args(cx: &mut Ctxt, args: &TokenStream, on_struct: bool) -> bool {
    if args.is_empty() {
        return false;
    }
    let global = syn::parse2::<Ident>(args.clone()).is_ok_and(|ident| ident == GLOBAL);
    if !global {
        cx.error_spanned_by(
            args,
            "`#[decision]` takes no arguments, but `global` on a state struct: \
             `#[decision(global)]` for a projection over the whole store",
        );
    } else if !on_struct {
        cx.error_spanned_by(
            args,
            "`global` goes on the state struct, `#[decision(global)]`; its impl block \
             takes a bare `#[decision]`",
        );
    }
    global && on_struct
}

/// The keyword and name of an item, for an error about the whole item.
fn item_head(item: &Item) -> TokenStream {
    fn head(keyword: &impl ToTokens, ident: &Ident) -> TokenStream {
        quote!(#keyword #ident)
    }
    match item {
        Item::Fn(f) => head(&f.sig.fn_token, &f.sig.ident),
        Item::Enum(e) => head(&e.enum_token, &e.ident),
        Item::Trait(t) => head(&t.trait_token, &t.ident),
        Item::Union(u) => head(&u.union_token, &u.ident),
        Item::Mod(m) => head(&m.mod_token, &m.ident),
        other => other.to_token_stream(),
    }
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

fn state_struct(mut cx: Ctxt, mut state: ItemStruct, global: bool) -> TokenStream {
    let generic = !state.generics.params.is_empty();
    if generic {
        cx.error_spanned_by(
            &state.generics,
            "a `#[decision]` projection cannot be generic",
        );
    }
    let boundary = match &state.fields {
        Fields::Named(fields) => {
            let boundary = parse_boundary(&mut cx, fields.named.iter());
            // Without a scope, the state is not expanded: its `new` would
            // only add rustc's advice to derive `Default` on the ids.
            check_scope(&mut cx, &state, &boundary, global).then_some(boundary)
        }
        other => {
            cx.error_spanned_by(
                other,
                "a `#[decision]` projection is a struct with named fields, such as `struct CourseCapacity { #[boundary] course_id: CourseId, joined: u32 }`",
            );
            None
        }
    };
    let expansion = match &boundary {
        // Errors in the `#[boundary]` marks leave the boundary known: the
        // expansion goes on, so that the impl block of handlers does not
        // fail too.
        Some(boundary) if !generic => {
            let others: Vec<&Field> = state.fields.iter().filter(|f| !is_boundary(f)).collect();
            expand_state(&state, boundary, &others)
        }
        None if !generic => stub_boundary(&state.ident),
        _ => TokenStream::new(),
    };
    strip_field_attrs(&mut state);
    with_errors(cx, quote!(#state #expansion))
}

/// A projection without boundary ids reads every event of its types in the
/// whole store: a forgotten (or misspelled) `#[boundary]` must not compile
/// into that, so it takes `#[decision(global)]` to say it is meant.
fn check_scope(
    cx: &mut Ctxt,
    state: &ItemStruct,
    boundary: &[BoundaryField<'_>],
    global: bool,
) -> bool {
    for field in &state.fields {
        for attr in &field.attrs {
            if let Some(name) = attr.path().get_ident()
                && *name != BOUNDARY
                && is_near(&name.to_string(), "boundary")
            {
                cx.error_spanned_by(
                    attr.path(),
                    format!("unknown attribute `{name}`; did you mean `#[boundary]`?"),
                );
            }
        }
    }
    let ident = &state.ident;
    match (boundary.first(), global) {
        (None, false) => {
            cx.error_spanned_by(
                ident,
                format!(
                    "`{ident}` has no `#[boundary]` field, so it would read every event of its \
                 types in the whole store; mark its id fields `#[boundary]` (such as \
                 `#[boundary] course_id: CourseId`), or write `#[decision(global)]` if it \
                 decides over the whole store"
                ),
            );
            return false;
        }
        (Some(field), true) => cx.error_spanned_by(
            field.ident,
            format!(
                "`#[decision(global)]` has no boundary, but `{}` is marked `#[boundary]`; \
                 remove one or the other",
                field.ident
            ),
        ),
        _ => {}
    }
    true
}

/// Whether `word` is a near miss of `target`: at most two edits away.
fn is_near(word: &str, target: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (word.chars().collect(), target.chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()] <= 2
}

fn is_boundary(field: &Field) -> bool {
    field.attrs.iter().any(|a| is_attr(a, BOUNDARY))
}

/// The `#[boundary]` fields, checking their marks.
fn parse_boundary<'a>(
    cx: &mut Ctxt,
    fields: impl Iterator<Item = &'a Field>,
) -> Vec<BoundaryField<'a>> {
    let mut boundary = Vec::new();
    for field in fields {
        let mut marks = field.attrs.iter().filter(|a| is_attr(a, BOUNDARY));
        let Some(mark) = marks.next() else { continue };
        if let syn::Meta::List(list) = &mark.meta {
            cx.error_spanned_by(&list.tokens, "`#[boundary]` takes no arguments");
        } else if let syn::Meta::NameValue(pair) = &mark.meta {
            cx.error_spanned_by(&pair.value, "`#[boundary]` takes no value");
        }
        for repeat in marks {
            cx.error_spanned_by(
                repeat,
                "`#[boundary]` is given twice on this field; keep one",
            );
        }
        if let Some(ident) = &field.ident {
            boundary.push(BoundaryField {
                ident,
                ty: &field.ty,
            });
        }
    }
    boundary
}

/// A `Boundary` impl for a state the macro could not read, so that its
/// impl block of handlers does not fail too.
fn stub_boundary(ident: &Ident) -> TokenStream {
    quote! {
        impl ::dcb_core::Boundary for #ident {
            type Ids = ();

            fn boundary_tags(&self) -> ::std::vec::Vec<::dcb_core::Tag> {
                ::core::unreachable!()
            }

            fn in_boundary(&self, _: &::dcb_core::EventRecord) -> bool {
                ::core::unreachable!()
            }
        }
    }
}

fn strip_field_attrs(state: &mut ItemStruct) {
    for field in &mut state.fields {
        // Near misses of `#[boundary]` are reported by `check_scope`.
        field.attrs.retain(|a| {
            !is_attr(a, BOUNDARY)
                && !a
                    .path()
                    .get_ident()
                    .is_some_and(|name| is_near(&name.to_string(), "boundary"))
        });
    }
}

fn expand_state(
    state: &ItemStruct,
    boundary: &[BoundaryField<'_>],
    others: &[&Field],
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
            tags.iter().any(|tag| <#ty as ::dcb_core::Identifier>::is_tag(&self.#ident, tag))
        }
    });
    let tag_list = boundary.iter().map(|BoundaryField { ident, ty }| {
        quote_spanned! {ty.span()=> <#ty as ::dcb_core::Identifier>::tag(&self.#ident) }
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
        " The state before any event.".to_owned()
    } else {
        let names: Vec<String> = boundary.iter().map(|b| format!("`{}`", b.ident)).collect();
        format!(
            " The state before any event, for the boundary {}.",
            names.join(", ")
        )
    };
    // Each other field starts from its type's `Default`; a type without one
    // is reported on the field, by `__private::Initial`'s message.
    let initial = others.iter().filter_map(|field| {
        let name = field.ident.as_ref()?;
        let start = quote_spanned! {field.ty.span()=> ::dcb_core::__private::initial() };
        Some(quote!(#name: #start))
    });
    quote! {
        impl #ident {
            #[doc = #new_doc]
            #[must_use]
            #vis fn new(#(#params),*) -> Self {
                Self {
                    #(#boundary_idents,)*
                    #(#initial,)*
                }
            }
        }

        #[automatically_derived]
        impl ::dcb_core::Boundary for #ident {
            type Ids = (#(#id_types,)*);

            fn boundary_tags(&self) -> ::std::vec::Vec<::dcb_core::Tag> {
                ::std::vec::Vec::from([#(#tag_list),*])
            }

            fn in_boundary(&self, #event_param: &::dcb_core::EventRecord) -> bool {
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
        strip_handler_attrs(&mut block);
        return with_errors(cx, block.into_token_stream());
    }
    let generic = !block.generics.params.is_empty();
    if generic {
        cx.error_spanned_by(&block.generics, "a decision's impl block cannot be generic");
    }
    // The errors that leave no projection to derive.
    let mut broken = Ctxt::default();
    let handlers = parse_handlers(&mut cx, &mut broken, &block);
    let expansion = match broken.check() {
        Ok(()) if !generic => expand_handlers(&block.self_ty, &handlers),
        Ok(()) => TokenStream::new(),
        Err(err) => {
            cx.push(err);
            if generic {
                TokenStream::new()
            } else {
                stub_projection(&block.self_ty)
            }
        }
    };
    strip_handler_attrs(&mut block);
    with_errors(cx, quote!(#block #expansion))
}

/// The handlers of `block`. Errors in a handler go to `broken`; items that
/// are not handlers are reported in `cx` but do not change the projection.
fn parse_handlers<'a>(cx: &mut Ctxt, broken: &mut Ctxt, block: &'a ItemImpl) -> Vec<Handler<'a>> {
    let mut handlers: Vec<Handler<'a>> = Vec::new();
    let mut functions = 0;
    for item in &block.items {
        let ImplItem::Fn(function) = item else {
            cx.error_spanned_by(
                item,
                format!(
                    "a #[decision] impl block holds only handlers; \
                     put other items in another impl block; {HANDLER_SHAPE}"
                ),
            );
            continue;
        };
        functions += 1;
        let Some(handler) = parse_handler(broken, function) else {
            continue;
        };
        let event = handler.event.to_token_stream().to_string();
        if let Some(other) = handlers
            .iter()
            .find(|h| h.event.to_token_stream().to_string() == event)
        {
            broken.error_spanned_by(
                handler.event,
                format!(
                    "`{}` already handles `{}`; merge the two handlers into one",
                    other.ident,
                    event.replace(' ', "")
                ),
            );
        }
        handlers.push(handler);
    }
    if functions == 0 {
        broken.error_spanned_by(
            &block.self_ty,
            format!("a decision needs at least one handler; {HANDLER_SHAPE}"),
        );
    } else if !handlers.is_empty() && handlers.iter().all(|h| !h.conflicts) {
        // An append condition of no event types would select every type.
        broken.error_spanned_by(
            &block.self_ty,
            "every handler of this decision is #[no_conflict], so nothing it reads could \
             invalidate it; keep #[no_conflict] off the handlers its rules depend on",
        );
    }
    handlers
}

/// A `Projection` impl for handlers the macro could not read, so that the
/// uses of the decision do not fail too.
fn stub_projection(self_ty: &Type) -> TokenStream {
    quote! {
        impl ::dcb_core::Projection for #self_ty {
            fn query(&self) -> ::dcb_core::Query {
                ::core::unreachable!()
            }

            fn selects(&self, _: &::dcb_core::SequencedEvent) -> bool {
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
    // Each handled event must carry every boundary tag, or the query could
    // never select it: checked where the handler names its event.
    let checks = handlers.iter().map(|Handler { event, .. }| {
        quote_spanned! {event.span()=>
            (&::dcb_core::__private::Handles::<#self_ty, #event>::new()).check();
        }
    });
    // Spanned at the state's type: if it has no `Boundary`, the one error
    // says so there.
    let boundary = quote_spanned!(self_ty.span()=> <#self_ty as ::dcb_core::Boundary>);
    let count = Literal::usize_unsuffixed(handlers.len());
    let names = handlers
        .iter()
        .map(|Handler { event, .. }| quote!(<#event as ::dcb_core::Event>::NAME));
    // Each handled type's name must differ from those before it: checked
    // where the handler names its event type.
    let name_checks: Vec<TokenStream> = handlers
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, h)| {
            let event = h.event;
            let written = event.to_token_stream().to_string().replace(' ', "");
            let i = Literal::usize_unsuffixed(i);
            quote_spanned! {event.span()=>
                ::dcb_core::__private::new_event_name(&HANDLED, #i, #written);
            }
        })
        .collect();
    let distinct_names = (!name_checks.is_empty()).then(|| {
        quote! {
            /// Fails the build if a handled event type has an earlier one's stored name.
            const _: () = {
                #(#name_checks)*
            };
        }
    });
    // The event type is inferred from the handler's signature. The call is
    // spanned at it, so that a type that is not an event is reported there
    // once, with the same error as for `HANDLED`.
    let dispatch = handlers
        .iter()
        .enumerate()
        .map(|(i, Handler { ident, event, .. })| {
            let i = Literal::usize_unsuffixed(i);
            let decode = quote_spanned! {event.span()=>
                ::dcb_core::Event::from_event(event)
            };
            quote! {
                if name == HANDLED[#i] {
                    self.#ident(&#decode?);
                }
            }
        });
    let dispatch = quote!(#(#dispatch)else*);
    let (conflicting, condition) = if handlers.iter().all(|h| h.conflicts) {
        (None, None)
    } else {
        let names = handlers
            .iter()
            .enumerate()
            .filter(|(_, h)| h.conflicts)
            .map(|(i, _)| {
                let i = Literal::usize_unsuffixed(i);
                quote!(HANDLED[#i])
            });
        let count = Literal::usize_unsuffixed(handlers.iter().filter(|h| h.conflicts).count());
        let conflicting = quote! {
            /// The event types of the handlers that are not `#[no_conflict]`.
            const CONFLICTING: [::dcb_core::EventType; #count] =
                ::dcb_core::__private::event_types([#(#names),*]);
        };
        let condition = quote! {
            const NARROWS_CONDITION: bool = true;

            /// The query without the event types of `#[no_conflict]` handlers.
            fn condition(&self, _query: &::dcb_core::Query) -> ::dcb_core::Query {
                ::dcb_core::__private::query(CONFLICTING, #boundary::boundary_tags(self))
            }
        };
        (Some(conflicting), Some(condition))
    };
    quote! {
        const _: () = {
            /// Type-checked, never called: each handled event type carries every boundary tag.
            #[allow(dead_code)]
            fn check_handlers() {
                use ::dcb_core::__private::{CheckTags as _, Unchecked as _};
                #(#checks)*
            }

            /// The stored names of the handled event types, in the handlers' order.
            const HANDLED: [&str; #count] = [#(#names),*];

            /// The handled event types.
            const TYPES: [::dcb_core::EventType; #count] = ::dcb_core::__private::event_types(HANDLED);

            #conflicting

            #distinct_names

            #[automatically_derived]
            impl ::dcb_core::Projection for #self_ty {
                fn query(&self) -> ::dcb_core::Query {
                    ::dcb_core::__private::query(TYPES, #boundary::boundary_tags(self))
                }

                #condition

                fn selects(&self, event: &::dcb_core::SequencedEvent) -> bool {
                    HANDLED.contains(&event.event_type().as_str()) && #boundary::in_boundary(self, event)
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
