//! Collecting every error of an item, so one compile reports them all.

use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::ToTokens;

/// The errors found so far in one macro invocation.
#[derive(Default)]
pub struct Ctxt {
    errors: Option<syn::Error>,
}

impl Ctxt {
    /// Records an error pointing at `tokens`.
    pub fn error_spanned_by(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error.
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(errors) => errors.combine(error),
            None => self.errors = Some(error),
        }
    }

    /// All errors combined, or `Ok` if there were none.
    pub fn check(self) -> Result<(), syn::Error> {
        self.errors.map_or(Ok(()), Err)
    }
}

/// The errors recorded in `cx`, then `tokens`.
pub(crate) fn with_errors(cx: Ctxt, tokens: TokenStream) -> TokenStream {
    let mut all = cx
        .check()
        .err()
        .map(|e| e.to_compile_error())
        .unwrap_or_default();
    all.extend(tokens);
    all
}
