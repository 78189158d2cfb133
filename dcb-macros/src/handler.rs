//! The handlers of a `#[decision]` or `#[read_model]` impl block:
//! `fn name(&mut self, event: &E)`, optionally with the event's context
//! second. Parsing, checking, and the dispatch both expand to.

use proc_macro2::{Literal, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, Pat, ReturnType, Type};

use crate::ctxt::Ctxt;
use crate::symbol::NO_CONFLICT;

/// What an impl block of handlers derives.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `#[decision]`'s projection.
    Decision,
    /// A `#[read_model]`.
    ReadModel,
}

impl Kind {
    /// The attribute, for messages.
    fn attribute(self) -> &'static str {
        match self {
            Kind::Decision => "#[decision]",
            Kind::ReadModel => "#[read_model]",
        }
    }

    /// The thing derived, for messages.
    fn noun(self) -> &'static str {
        match self {
            Kind::Decision => "decision",
            Kind::ReadModel => "read model",
        }
    }
}

/// A handler: `fn name(&mut self, event: &E)`, or with a second argument
/// of the event's context (its `Position`, `Option<Timestamp>`, `&Metadata`
/// or `&SequencedEvent`).
pub struct Handler<'a> {
    pub ident: &'a Ident,
    pub event: &'a Type,
    /// The type of the second argument, if there is one.
    pub context: Option<&'a Type>,
    /// Whether the handler is not `#[no_conflict]`.
    pub conflicts: bool,
}

/// The handlers of `block`, the impl block of a `kind` (a decision or a read
/// model). Errors in a handler go to `broken`; items that are not handlers
/// are reported in `cx` but do not change what is derived.
pub fn parse_handlers<'a>(
    cx: &mut Ctxt,
    broken: &mut Ctxt,
    block: &'a ItemImpl,
    kind: Kind,
) -> Vec<Handler<'a>> {
    let mut handlers: Vec<Handler<'a>> = Vec::new();
    let mut functions = 0;
    for item in &block.items {
        let ImplItem::Fn(function) = item else {
            cx.error_spanned_by(
                item,
                format!(
                    "a {} impl block holds only handlers; \
                     put other items in another impl block; {HANDLER_SHAPE}",
                    kind.attribute()
                ),
            );
            continue;
        };
        functions += 1;
        let Some(handler) = parse_handler(broken, function, kind) else {
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
            format!(
                "a {} needs at least one handler; {HANDLER_SHAPE}",
                kind.noun()
            ),
        );
    } else if kind == Kind::Decision
        && !handlers.is_empty()
        && handlers.iter().all(|h| !h.conflicts)
    {
        // An append condition of no event types would select every type.
        broken.error_spanned_by(
            &block.self_ty,
            "every handler of this decision is #[no_conflict], so nothing it reads could \
             invalidate it; keep #[no_conflict] off the handlers its rules depend on",
        );
    }
    handlers
}

pub fn strip_handler_attrs(block: &mut ItemImpl) {
    for item in &mut block.items {
        if let ImplItem::Fn(function) = item {
            function.attrs.retain(|a| a.path() != NO_CONFLICT);
        }
    }
}

/// What every handler error message ends with.
pub const HANDLER_SHAPE: &str = "a handler is `fn name(&mut self, event: &EventType)`, \
     optionally with the event's `Position`, `Option<Timestamp>`, `&Metadata` or \
     `&SequencedEvent` second";

fn parse_handler<'a>(cx: &mut Ctxt, function: &'a ImplItemFn, kind: Kind) -> Option<Handler<'a>> {
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
    let conflicts = parse_no_conflict(&mut errors, &function.attrs, kind);
    let (event, context) = parse_inputs(&mut errors, sig);
    if let Err(err) = errors.check() {
        cx.push(err);
        return None;
    }
    Some(Handler {
        ident: &sig.ident,
        event: event?,
        context,
        conflicts,
    })
}

/// Whether the handler's event type belongs in the append condition: it
/// does unless the handler is marked `#[no_conflict]`, which only a
/// decision's handlers may be.
fn parse_no_conflict(errors: &mut Ctxt, attrs: &[Attribute], kind: Kind) -> bool {
    let mut conflicts = true;
    for attr in attrs.iter().filter(|a| a.path() == NO_CONFLICT) {
        if kind != Kind::Decision {
            errors.error_spanned_by(
                attr,
                "`#[no_conflict]` narrows a decision's append condition; a read model \
                 appends nothing: remove it",
            );
        }
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

/// Checks `(&mut self, event: &E)` or `(&mut self, event: &E, context: C)`
/// and returns `E` and `C`. That `C` is a context type is checked by the
/// compiler, at `C`.
fn parse_inputs<'a>(
    errors: &mut Ctxt,
    sig: &'a syn::Signature,
) -> (Option<&'a Type>, Option<&'a Type>) {
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
    let context = match inputs.next() {
        Some(FnArg::Typed(arg)) => {
            if !matches!(&*arg.pat, Pat::Ident(_) | Pat::Wild(_)) {
                errors.error_spanned_by(
                    &arg.pat,
                    format!("name the argument with an identifier or `_`; {HANDLER_SHAPE}"),
                );
            }
            Some(&*arg.ty)
        }
        Some(receiver) => {
            errors.error_spanned_by(receiver, HANDLER_SHAPE);
            None
        }
        None => None,
    };
    if let Some(extra) = inputs.next() {
        errors.error_spanned_by(
            extra,
            format!("a handler takes its event and, optionally, its position; {HANDLER_SHAPE}"),
        );
    }
    (event, context)
}

/// The parts of an expansion that dispatch events to the handlers.
pub struct Handled {
    /// `HANDLED`, the stored names of the handled event types in the
    /// handlers' order, and `TYPES`, the handled event types.
    pub names: TokenStream,
    /// A constant that fails the build if two handled types share a name.
    pub distinct_names: Option<TokenStream>,
    /// The body of `apply`, given `name` (the event's type) and `event`:
    /// the call of the handler of `name`, if any, with the decoded event.
    pub dispatch: TokenStream,
}

/// The dispatch of events to `handlers`.
pub fn handled(handlers: &[Handler<'_>]) -> Handled {
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
    let dispatch = handlers.iter().enumerate().map(|(i, handler)| {
        let Handler {
            ident,
            event: event_ty,
            context,
            ..
        } = handler;
        let i = Literal::usize_unsuffixed(i);
        let decode = quote_spanned! {event_ty.span()=>
            ::dcb_core::Event::from_event(event)
        };
        // The context's type is inferred from the signature; the call is
        // spanned at it, so that another type is reported there.
        let context = context.map(|ty| {
            quote_spanned! {ty.span()=> , ::dcb_core::__private::context(event) }
        });
        quote! {
            if name == HANDLED[#i] {
                self.#ident(&#decode? #context);
            }
        }
    });
    let dispatch = quote!(#(#dispatch)else*);
    Handled {
        names: quote! {
            /// The stored names of the handled event types, in the handlers' order.
            const HANDLED: [&str; #count] = [#(#names),*];

            /// The handled event types.
            const TYPES: [::dcb_core::EventType; #count] = ::dcb_core::__private::event_types(HANDLED);
        },
        distinct_names,
        dispatch,
    }
}
