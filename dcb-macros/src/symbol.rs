//! The attribute names and keys the macros understand.

use std::fmt;

use syn::{Ident, Path};

/// An attribute name or key.
#[derive(Clone, Copy)]
pub struct Symbol(pub &'static str);

pub const ID: Symbol = Symbol("id");
pub const EVENT: Symbol = Symbol("event");
pub const TAG: Symbol = Symbol("tag");
pub const BOUNDARY: Symbol = Symbol("boundary");
pub const NO_CONFLICT: Symbol = Symbol("no_conflict");
pub const GLOBAL: Symbol = Symbol("global");
pub const LATEST: Symbol = Symbol("latest");
pub const PARAM: Symbol = Symbol("param");
pub const NAME: Symbol = Symbol("name");
pub const CODEC: Symbol = Symbol("codec");
pub const PREFIX: Symbol = Symbol("prefix");
pub const VERSION: Symbol = Symbol("version");
pub const UPCAST: Symbol = Symbol("upcast");
pub const FROM: Symbol = Symbol("from");

impl PartialEq<Symbol> for Ident {
    fn eq(&self, word: &Symbol) -> bool {
        self == word.0
    }
}

impl PartialEq<Symbol> for &Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl PartialEq<Symbol> for Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
