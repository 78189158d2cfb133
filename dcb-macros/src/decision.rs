//! `#[decision]` on a state struct and on its impl block of handlers:
//! parse, validate, expand.

use proc_macro2::{Literal, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Field, Fields, Ident, Item, ItemImpl, ItemStruct, Type, Visibility};

use crate::ctxt::{Ctxt, with_errors};
use crate::handler::{Handled, Handler, Kind, handled, parse_handlers, strip_handler_attrs};
use crate::symbol::{BOUNDARY, GLOBAL, LATEST, PARAM};

pub fn attribute(args: &TokenStream, item: TokenStream) -> TokenStream {
    let item = match syn::parse2::<Item>(item) {
        Ok(item) => item,
        Err(err) => return err.to_compile_error(),
    };
    let mut cx = Ctxt::default();
    let args = parse_args(&mut cx, args, matches!(item, Item::Struct(_)));
    match item {
        Item::Struct(state) => state_struct(cx, state, &args),
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

/// The arguments of `#[decision(...)]` on a state struct.
#[derive(Default)]
struct Args {
    /// `global`: a projection without boundary ids, over the whole store.
    global: bool,
    /// `latest` (one) or `latest = n`: read only the last `n` events the
    /// query selects.
    latest: Option<Literal>,
}

/// What every argument error ends with.
const ARGS_SHAPE: &str = "the state struct takes `#[decision]`, `#[decision(global)]` for a \
     projection over the whole store, `#[decision(latest)]` or `#[decision(latest = n)]` to read \
     only the last event(s), or both, such as `#[decision(global, latest)]`";

/// The attribute's arguments. A mistake is not a reason to stop: the item
/// is expanded as if the argument were not there.
fn parse_args(cx: &mut Ctxt, args: &TokenStream, on_struct: bool) -> Args {
    let mut parsed = Args::default();
    if args.is_empty() {
        return parsed;
    }
    if !on_struct {
        cx.error_spanned_by(
            args,
            "the impl block of handlers takes a bare `#[decision]`; the arguments go on the \
             state struct",
        );
        return parsed;
    }
    let parser = syn::meta::parser(|meta| {
        if meta.path == GLOBAL {
            if parsed.global {
                cx.error_spanned_by(&meta.path, "`global` is given twice; keep one");
            }
            parsed.global = true;
        } else if meta.path == LATEST {
            if parsed.latest.is_some() {
                cx.error_spanned_by(&meta.path, "`latest` is given twice; keep one");
            }
            parsed.latest = Some(Literal::usize_unsuffixed(1));
            if meta.input.peek(syn::Token![=]) {
                let count: syn::LitInt = meta.value()?.parse()?;
                match count.base10_parse::<u32>() {
                    Ok(0) | Err(_) => cx.error_spanned_by(
                        &count,
                        "`latest = n` reads the last n events: n is 1 or more (and fits a `u32`); \
                         `latest` alone reads the last one",
                    ),
                    Ok(n) => parsed.latest = Some(Literal::u32_unsuffixed(n)),
                }
            }
        } else {
            return Err(meta.error(format!("unknown argument; {ARGS_SHAPE}")));
        }
        Ok(())
    });
    if let Err(err) = syn::parse::Parser::parse2(parser, args.clone()) {
        cx.push(err);
    }
    parsed
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

/// A field `new` takes: a `#[boundary]` id or a `#[param]`.
struct InputField<'a> {
    ident: &'a Ident,
    ty: &'a Type,
    boundary: bool,
}

fn state_struct(mut cx: Ctxt, mut state: ItemStruct, args: &Args) -> TokenStream {
    let generic = !state.generics.params.is_empty();
    if generic {
        cx.error_spanned_by(
            &state.generics,
            "a `#[decision]` projection cannot be generic",
        );
    }
    let inputs = match &state.fields {
        Fields::Named(fields) => {
            let inputs = parse_input_fields(&mut cx, fields.named.iter());
            // Without a scope, the state is not expanded: its `new` would
            // only add rustc's advice to derive `Default` on the ids.
            check_scope(&mut cx, &state, &inputs, args.global).then_some(inputs)
        }
        other => {
            cx.error_spanned_by(
                other,
                "a `#[decision]` projection is a struct with named fields, such as `struct CourseCapacity { #[boundary] course_id: CourseId, joined: u32 }`",
            );
            None
        }
    };
    let expansion = match &inputs {
        // Errors in the `#[boundary]` marks leave the boundary known: the
        // expansion goes on, so that the impl block of handlers does not
        // fail too.
        Some(inputs) if !generic => {
            let others: Vec<&Field> = state.fields.iter().filter(|f| !is_input(f)).collect();
            expand_state(&state, inputs, &others, args.latest.as_ref())
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
fn check_scope(cx: &mut Ctxt, state: &ItemStruct, inputs: &[InputField<'_>], global: bool) -> bool {
    for field in &state.fields {
        for attr in &field.attrs {
            if let Some(name) = attr.path().get_ident()
                && let Some(meant) = near_miss(name)
            {
                cx.error_spanned_by(
                    attr.path(),
                    format!("unknown attribute `{name}`; did you mean `#[{meant}]`?"),
                );
            }
        }
    }
    let ident = &state.ident;
    match (inputs.iter().find(|f| f.boundary), global) {
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

/// The field attribute `name` is a near miss of, if it is one and not the
/// attribute itself.
fn near_miss(name: &Ident) -> Option<crate::symbol::Symbol> {
    let word = name.to_string();
    [BOUNDARY, PARAM]
        .into_iter()
        .find(|symbol| word != symbol.0 && is_near(&word, symbol.0))
}

/// Whether `word` is a near miss of `target`: at most two edits away, and
/// fewer for a short target.
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
    row[b.len()] <= if b.len() > 5 { 2 } else { 1 }
}

fn is_input(field: &Field) -> bool {
    field
        .attrs
        .iter()
        .any(|a| is_attr(a, BOUNDARY) || is_attr(a, PARAM))
}

/// The `#[boundary]` and `#[param]` fields, in declaration order, checking
/// their marks.
fn parse_input_fields<'a>(
    cx: &mut Ctxt,
    fields: impl Iterator<Item = &'a Field>,
) -> Vec<InputField<'a>> {
    let mut inputs = Vec::new();
    for field in fields {
        let mut marks = field
            .attrs
            .iter()
            .filter(|a| is_attr(a, BOUNDARY) || is_attr(a, PARAM));
        let Some(mark) = marks.next() else { continue };
        let boundary = is_attr(mark, BOUNDARY);
        let name = if boundary { BOUNDARY } else { PARAM };
        if let syn::Meta::List(list) = &mark.meta {
            cx.error_spanned_by(&list.tokens, format!("`#[{name}]` takes no arguments"));
        } else if let syn::Meta::NameValue(pair) = &mark.meta {
            cx.error_spanned_by(&pair.value, format!("`#[{name}]` takes no value"));
        }
        for repeat in marks {
            if is_attr(repeat, BOUNDARY) == boundary {
                cx.error_spanned_by(
                    repeat,
                    format!("`#[{name}]` is given twice on this field; keep one"),
                );
            } else {
                cx.error_spanned_by(
                    repeat,
                    "a field is either `#[boundary]`, an id whose tag every event read \
                     carries, or `#[param]`, an input such as the time that selects nothing; \
                     keep one",
                );
            }
        }
        if let Some(ident) = &field.ident {
            inputs.push(InputField {
                ident,
                ty: &field.ty,
                boundary,
            });
        }
    }
    inputs
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
        // Near misses are reported by `check_scope`.
        field.attrs.retain(|a| {
            let ours = is_attr(a, BOUNDARY) || is_attr(a, PARAM);
            let near = a.path().get_ident().and_then(near_miss).is_some();
            !(ours || near)
        });
    }
}

fn expand_state(
    state: &ItemStruct,
    inputs: &[InputField<'_>],
    others: &[&Field],
    latest: Option<&Literal>,
) -> TokenStream {
    let ident = &state.ident;
    let vis = match &state.vis {
        Visibility::Inherited => quote!(),
        vis => vis.to_token_stream(),
    };
    let boundary: Vec<&InputField<'_>> = inputs.iter().filter(|f| f.boundary).collect();
    let params = inputs
        .iter()
        .map(|InputField { ident, ty, .. }| quote!(#ident: #ty));
    let input_idents = inputs.iter().map(|f| f.ident);
    let id_types = boundary.iter().map(|b| b.ty);
    let id_checks = boundary.iter().map(|InputField { ident, ty, .. }| {
        quote_spanned! {ty.span()=>
            tags.iter().any(|tag| <#ty as ::dcb_core::Identifier>::is_tag(&self.#ident, tag))
        }
    });
    let tag_list = boundary.iter().map(|InputField { ident, ty, .. }| {
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
    let new_doc = if inputs.is_empty() {
        " The state before any event.".to_owned()
    } else {
        let names: Vec<String> = inputs.iter().map(|b| format!("`{}`", b.ident)).collect();
        format!(" The state before any event, for {}.", names.join(", "))
    };
    // Each other field starts from its type's `Default`; a type without one
    // is reported on the field, by `__private::Initial`'s message.
    let initial = others.iter().filter_map(|field| {
        let name = field.ident.as_ref()?;
        let ty = &field.ty;
        let start = quote_spanned! {ty.span()=>
            (&::dcb_core::__private::Start::<#ty>::new()).start()
        };
        Some(quote!(#name: #start))
    });
    let uses_start = (!others.is_empty()).then(|| {
        quote!(
            use ::dcb_core::__private::{NoDefault as _, ViaDefault as _};
        )
    });
    let latest = latest.map(|n| {
        quote! {
            const LATEST: ::core::option::Option<::core::num::NonZeroUsize> =
                ::core::num::NonZeroUsize::new(#n);
        }
    });
    let has_params = inputs.iter().any(|f| !f.boundary).then(|| {
        quote! {
            const HAS_PARAMS: bool = true;
        }
    });
    // The impl block's `#[decision]` implements `Projection`: without it,
    // the state would be a decision nobody can run, and no use of it might
    // say why. Spanned at the name, where the error says what to add.
    let projection_check = quote_spanned! {ident.span()=>
        projection::<#ident>();
    };
    quote! {
        impl #ident {
            #[doc = #new_doc]
            #[must_use]
            #vis fn new(#(#params),*) -> Self {
                #uses_start
                Self {
                    #(#input_idents,)*
                    #(#initial,)*
                }
            }
        }

        #[automatically_derived]
        impl ::dcb_core::Boundary for #ident {
            type Ids = (#(#id_types,)*);

            #latest

            #has_params

            fn boundary_tags(&self) -> ::std::vec::Vec<::dcb_core::Tag> {
                ::std::vec::Vec::from([#(#tag_list),*])
            }

            fn in_boundary(&self, #event_param: &::dcb_core::EventRecord) -> bool {
                #in_boundary
            }
        }

        /// Fails the build if the impl block of handlers lacks `#[decision]`.
        const _: () = {
            fn projection<P: ::dcb_core::Projection>() {}

            #[allow(dead_code)]
            fn check() {
                #projection_check
            }
        };
    }
}

// ---------------------------------------------------------------------------
// The impl block of handlers.

fn handler_impl(mut cx: Ctxt, mut block: ItemImpl) -> TokenStream {
    if let Some((_, path, _)) = &block.trait_ {
        cx.error_spanned_by(
            path,
            "#[decision] goes on the state's own impl block, not on a trait impl",
        );
        strip_handler_attrs(&mut block);
        let stub = stub_projection(&block.self_ty);
        return with_errors(cx, quote!(#block #stub));
    }
    let generic = !block.generics.params.is_empty();
    if generic {
        cx.error_spanned_by(&block.generics, "a decision's impl block cannot be generic");
    }
    // The errors that leave no projection to derive.
    let mut broken = Ctxt::default();
    let handlers = parse_handlers(&mut cx, &mut broken, &block, Kind::Decision);
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
    let Handled {
        names,
        distinct_names,
        dispatch,
    } = handled(handlers);
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
    // A known state folds the events a decision appended itself into the
    // kept state, without their recorded time: a handler that takes a
    // second argument (its position, time or metadata) keeps it from
    // being kept, and so do `#[param]` fields, a narrowed condition and
    // `latest` (checked at run time).
    let known_parts = handlers.iter().all(|h| h.context.is_none()).then(|| {
        quote! {
            fn known_parts(&mut self, parts: &mut ::dcb_core::__private::KnownParts<'_>) {
                use ::dcb_core::__private::{Keep as _, KeepNot as _};
                if #boundary::HAS_PARAMS {
                    // A parameter is this call's input, not state: a kept
                    // state would bring back another call's.
                    parts.not_kept();
                } else {
                    (&::dcb_core::__private::Kept::<Self>::new()).keep(self, parts);
                }
            }
        }
    });
    quote! {
        const _: () = {
            /// Type-checked, never called: each handled event type carries every boundary tag.
            #[allow(dead_code)]
            fn check_handlers() {
                use ::dcb_core::__private::{CheckTags as _, Unchecked as _};
                #(#checks)*
            }

            #names

            #conflicting

            #distinct_names

            #[automatically_derived]
            impl ::dcb_core::Projection for #self_ty {
                const LATEST: ::core::option::Option<::core::num::NonZeroUsize> = #boundary::LATEST;

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

                #known_parts
            }
        };
    }
}
