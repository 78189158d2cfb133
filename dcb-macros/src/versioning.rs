//! `#[upcast(Event, from = N)]` on a function: parse, validate, expand.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, Ident, Item, ItemFn, Lit, LitInt, Path, ReturnType, Token, Type};

use crate::attr::Setting;
use crate::ctxt::{Ctxt, with_errors};
use crate::symbol::{FROM, UPCAST};

/// How the attribute is written, for messages.
const USAGE: &str = "`#[upcast(StudentJoinedCourse, from = 1)]`";

pub fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = match syn::parse2::<Item>(item) {
        Ok(item) => item,
        Err(err) => return err.to_compile_error(),
    };
    let mut cx = Ctxt::default();
    let args = parse_args(&mut cx, args);
    let Item::Fn(function) = item else {
        cx.error_spanned_by(
            item_head(&item),
            "#[upcast] goes on a function `fn(serde_json::Value) -> serde_json::Value` \
             that turns the stored data of one version of an event into the next",
        );
        return with_errors(cx, item.into_token_stream());
    };
    let signature = check_signature(&function).map_err(|err| cx.push(err)).ok();
    match (args, signature, cx.check()) {
        (Some(args), Some(signature), Ok(())) => expand(&args, &signature, &function),
        (_, _, result) => {
            let mut tokens = result
                .err()
                .map(|e| e.to_compile_error())
                .unwrap_or_default();
            tokens.extend(function.into_token_stream());
            tokens
        }
    }
}

/// The keyword and name of an item, for an error about the whole item.
fn item_head(item: &Item) -> TokenStream {
    match item {
        Item::Struct(s) => {
            let (keyword, ident) = (&s.struct_token, &s.ident);
            quote!(#keyword #ident)
        }
        Item::Enum(e) => {
            let (keyword, ident) = (&e.enum_token, &e.ident);
            quote!(#keyword #ident)
        }
        Item::Impl(i) => {
            let (keyword, ty) = (&i.impl_token, &i.self_ty);
            quote!(#keyword #ty)
        }
        other => other.to_token_stream(),
    }
}

/// The arguments: the event type, and the version the function reads.
struct Args {
    event: Path,
    from: LitInt,
}

fn parse_args(cx: &mut Ctxt, args: TokenStream) -> Option<Args> {
    if args.is_empty() {
        cx.push(syn::Error::new(
            Span::call_site(),
            format!("`#[upcast]` needs the event type and the version the function reads: {USAGE}"),
        ));
        return None;
    }
    let mut inner = Ctxt::default();
    let parsed = (|input: ParseStream<'_>| {
        let event: Path = input.parse()?;
        let mut from: Setting<LitInt> = Setting::new(FROM);
        let mut from_given = false;
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: Ident = input.parse()?;
            if key != FROM {
                return Err(syn::Error::new_spanned(
                    &key,
                    format!("unknown key `{key}`: `#[{UPCAST}(Event, ...)]` takes `{FROM}`"),
                ));
            }
            input.parse::<Token![=]>()?;
            from_given = true;
            if let Some(lit) = parse_from(&mut inner, &input.parse()?) {
                from.set(&mut inner, &key, lit);
            }
        }
        if !from_given {
            let event_name = event.to_token_stream().to_string().replace(' ', "");
            inner.error_spanned_by(
                &event,
                format!(
                    "`#[upcast]` needs the version the function reads: \
                     `#[upcast({event_name}, from = 1)]`"
                ),
            );
        }
        Ok((event, from.into_inner()))
    })
    .parse2(args);
    if let Err(err) = inner.check() {
        cx.push(err);
    }
    match parsed {
        Ok((event, Some(from))) => Some(Args { event, from }),
        Ok(_) => None,
        Err(err) => {
            cx.push(err);
            None
        }
    }
}

/// The value of `from`: an integer literal, 1 or more.
fn parse_from(cx: &mut Ctxt, value: &Expr) -> Option<LitInt> {
    let Expr::Lit(ExprLit {
        lit: Lit::Int(lit), ..
    }) = value
    else {
        cx.error_spanned_by(value, "`from` is an integer literal, such as `from = 1`");
        return None;
    };
    match lit.base10_parse::<u32>() {
        Ok(0) => {
            cx.error_spanned_by(
                lit,
                "versions start at 1: the upcaster of an event's first version has `from = 1`",
            );
            None
        }
        Ok(_) => Some(LitInt::new(lit.base10_digits(), lit.span())),
        Err(_) => {
            cx.error_spanned_by(lit, "the version must fit a `u32`");
            None
        }
    }
}

/// The parts of the signature the expansion points rustc's type checks at.
struct Signature<'a> {
    argument: &'a Type,
    output: &'a Type,
}

/// Checks the shape of the signature; rustc checks the types, at the spans
/// [`expand`] gives them.
fn check_signature(function: &ItemFn) -> Result<Signature<'_>, syn::Error> {
    let sig = &function.sig;
    let mut cx = Ctxt::default();
    if let Some(token) = &sig.asyncness {
        cx.error_spanned_by(
            token,
            "an upcaster cannot be async: it runs while an event is decoded",
        );
    }
    if let Some(token) = &sig.unsafety {
        cx.error_spanned_by(token, "an upcaster cannot be unsafe: decoding calls it");
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            "an upcaster cannot be generic: it reads the JSON of one version of one event",
        );
    }
    let argument = match sig.inputs.iter().collect::<Vec<_>>().as_slice() {
        [FnArg::Typed(arg)] => Some(&*arg.ty),
        [FnArg::Receiver(receiver)] => {
            cx.error_spanned_by(
                receiver,
                "an upcaster is a free function of the data: `data: serde_json::Value`",
            );
            None
        }
        _ => {
            let message =
                "an upcaster takes one argument, the stored data: `data: serde_json::Value`";
            if sig.inputs.is_empty() {
                cx.push(syn::Error::new(sig.paren_token.span.join(), message));
            } else {
                cx.error_spanned_by(&sig.inputs, message);
            }
            None
        }
    };
    let output = match &sig.output {
        ReturnType::Type(_, ty) => Some(&**ty),
        ReturnType::Default => {
            cx.push(syn::Error::new(
                sig.paren_token.span.close(),
                "an upcaster returns the data at the next version: add `-> serde_json::Value`",
            ));
            None
        }
    };
    cx.check()?;
    match (argument, output) {
        (Some(argument), Some(output)) => Ok(Signature { argument, output }),
        // Each `None` recorded an error, returned above.
        _ => unreachable!("a signature without an argument or output passed its checks"),
    }
}

fn expand(args: &Args, signature: &Signature<'_>, function: &ItemFn) -> TokenStream {
    let Args { event, from } = args;
    let ident = &function.sig.ident;
    let function_name = ident.to_string();
    let event_name = event.to_token_stream().to_string().replace(' ', "");
    let as_event = quote_spanned!(event.span()=> <#event as ::dcb_core::Event>);
    // Each conversion is spanned at the type it converts, so that a wrong
    // type is reported there, by the trait's message, and only once.
    let (argument, output) = (signature.argument, signature.output);
    let data = quote_spanned! {argument.span()=>
        <#argument as ::dcb_core::__private::UpcastInput>::from_json(data)
    };
    let call = quote_spanned! {output.span()=>
        <#output as ::dcb_core::versioning::UpcastOutput>::into_result(#ident(#data))
    };
    let version_check = quote_spanned! {from.span()=>
        ::dcb_core::__private::upcasts_older_version(
            #from,
            #as_event::VERSION,
            #function_name,
            #event_name,
        )
    };
    quote! {
        // The signature is the macro's, so is taking the data by value: an
        // upcaster that only reads it is no reason for a pedantic warning.
        #[allow(clippy::needless_pass_by_value)]
        #function

        /// Fails the build unless the event type's version is above `from`.
        const _: () = #version_check;

        ::dcb_core::__private::inventory::submit! {
            ::dcb_core::versioning::Upcaster::of(
                #as_event::NAME,
                #from,
                ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
                |data| #call,
            )
        }
    }
}
