//! Parsing `#[name(key = value, …)]` attributes.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, LitStr};

use crate::ctxt::Ctxt;
use crate::symbol::Symbol;

/// A setting that may be given at most once, remembering where it was.
pub struct Setting<T> {
    key: Symbol,
    value: Option<(TokenStream, T)>,
}

impl<T> Setting<T> {
    pub fn new(key: Symbol) -> Setting<T> {
        Setting { key, value: None }
    }

    /// Records `value`, given at `tokens`; a second value is an error
    /// pointing at the repeat.
    pub fn set(&mut self, cx: &mut Ctxt, tokens: impl ToTokens, value: T) {
        let tokens = tokens.into_token_stream();
        if self.value.is_some() {
            cx.error_spanned_by(tokens, format!("`{}` is given twice; keep one", self.key));
        } else {
            self.value = Some((tokens, value));
        }
    }

    pub fn into_inner(self) -> Option<T> {
        self.value.map(|(_, v)| v)
    }
}

/// Parses the `key = value` list of `attr`, calling `each` for every key;
/// a bare `#[name]` has no keys.
pub fn parse_keys(
    cx: &mut Ctxt,
    attr: &Attribute,
    mut each: impl FnMut(&mut Ctxt, &ParseNestedMeta<'_>) -> syn::Result<()>,
) {
    if matches!(attr.meta, syn::Meta::Path(_)) {
        return;
    }
    let mut inner = Ctxt::default();
    let result = attr.parse_nested_meta(|meta| each(&mut inner, &meta));
    if let Err(err) = inner.check() {
        cx.push(err);
    }
    if let Err(err) = result {
        cx.push(err);
    }
}

/// The error for a key `attribute` does not know, listing the ones it does.
pub fn unknown_key(meta: &ParseNestedMeta<'_>, attribute: Symbol, known: &[Symbol]) -> syn::Error {
    let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    let key = meta.path.to_token_stream().to_string().replace(' ', "");
    let hint = if known.is_empty() {
        format!("`#[{attribute}]` takes no arguments")
    } else {
        format!("`#[{attribute}(...)]` takes {}", known.join(", "))
    };
    meta.error(format!("unknown key `{key}`: {hint}"))
}

/// Checks a tag prefix or event name given as a literal, with the rules of
/// `dcb_core::Tag` (and no `:` in a prefix).
pub fn check_name(cx: &mut Ctxt, lit: &LitStr, what: &str, max: usize, colon_allowed: bool) {
    let value = lit.value();
    let problem = if value.is_empty() {
        Some(format!("{what} is empty"))
    } else if value.len() > max {
        Some(format!(
            "{what} is {} bytes long; the maximum is {max}",
            value.len()
        ))
    } else if value.chars().any(char::is_control) {
        Some(format!("{what} contains a control character"))
    } else if !colon_allowed && value.contains(':') {
        Some(format!(
            "{what} contains `:`, which separates a tag's prefix from its value"
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        cx.error_spanned_by(lit, problem);
    }
}
