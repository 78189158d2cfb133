//! `#[derive(Id)]`: parse, validate, expand.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Type, Visibility};

use crate::attr::{Setting, check_name, parse_keys, unknown_key};
use crate::ctxt::Ctxt;
use crate::symbol::{ID, PREFIX};

/// The longest tag prefix, so that any value still fits in a tag.
pub const MAX_PREFIX_LEN: usize = 63;

pub fn derive(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<DeriveInput>(input) {
        Ok(input) => input,
        Err(err) => return err.to_compile_error(),
    };
    match parse(&input) {
        Ok(id) => expand(&id),
        Err(err) => fallback(&input, &err),
    }
}

/// The errors, and stub impls of what the derive implements, so that the
/// events tagged with this id do not fail too: the user sees the mistake,
/// not a cascade of "not an identifier".
fn fallback(input: &DeriveInput, err: &syn::Error) -> TokenStream {
    let mut tokens = err.to_compile_error();
    if !input.generics.params.is_empty() {
        return tokens;
    }
    let ident = &input.ident;
    let prefix = default_prefix(ident);
    tokens.extend(quote! {
        impl ::dcb_core::Identifier for #ident {
            const PREFIX: &'static str = #prefix;

            fn tag_with_prefix(&self, _: &str) -> ::dcb_core::Tag {
                ::core::unreachable!()
            }

            fn is_tag_with_prefix(&self, _: &str, _: &::dcb_core::Tag) -> bool {
                ::core::unreachable!()
            }
        }

        impl ::core::fmt::Display for #ident {
            fn fmt(&self, _: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::unreachable!()
            }
        }

        impl ::core::str::FromStr for #ident {
            type Err = ::dcb_core::ParseIdError;

            fn from_str(_: &str) -> ::core::result::Result<Self, Self::Err> {
                ::core::unreachable!()
            }
        }

        impl ::dcb_core::__private::serde::Serialize for #ident {
            fn serialize<S>(&self, _: S) -> ::core::result::Result<S::Ok, S::Error>
            where
                S: ::dcb_core::__private::serde::Serializer,
            {
                ::core::unreachable!()
            }
        }

        impl<'de> ::dcb_core::__private::serde::Deserialize<'de> for #ident {
            fn deserialize<D>(_: D) -> ::core::result::Result<Self, D::Error>
            where
                D: ::dcb_core::__private::serde::Deserializer<'de>,
            {
                ::core::unreachable!()
            }
        }
    });
    tokens
}

/// What an id wraps.
enum Repr {
    Uuid,
    Int,
    String,
}

/// A parsed and validated `#[derive(Id)]` input.
struct IdType<'a> {
    ident: &'a Ident,
    inner: &'a Type,
    repr: Repr,
    prefix: String,
}

/// What the error says when the input is not a one-field tuple struct.
const SHAPE: &str =
    "#[derive(Id)] needs a tuple struct with one field, such as `struct CourseId(Uuid);`";

fn parse(input: &DeriveInput) -> Result<IdType<'_>, syn::Error> {
    let mut cx = Ctxt::default();
    let mut prefix = Setting::new(PREFIX);
    for attr in input.attrs.iter().filter(|a| a.path() == ID) {
        parse_keys(&mut cx, attr, |cx, meta| {
            if meta.path == PREFIX {
                let lit: LitStr = meta.value()?.parse()?;
                check_name(cx, &lit, "the tag prefix", MAX_PREFIX_LEN, false);
                prefix.set(cx, &lit, lit.value());
                Ok(())
            } else {
                Err(unknown_key(meta, ID, &[PREFIX]))
            }
        });
    }
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(&input.generics, "an id type cannot be generic");
    }
    let field = if let Data::Struct(data) = &input.data {
        match &data.fields {
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => fields.unnamed.first(),
            fields => {
                cx.error_spanned_by(fields, SHAPE);
                None
            }
        }
    } else {
        cx.error_spanned_by(&input.ident, SHAPE);
        None
    };
    let repr = field.and_then(|field| {
        let repr = repr_of(&field.ty);
        if repr.is_none() {
            cx.error_spanned_by(
                &field.ty,
                format!(
                    "an id wraps a `Uuid`, an integer such as `u64`, or a `String`, not `{}`",
                    field.ty.to_token_stream().to_string().replace(' ', "")
                ),
            );
        }
        if matches!(repr, Some(Repr::String)) && !matches!(field.vis, Visibility::Inherited) {
            cx.error_spanned_by(
                &field.vis,
                format!(
                    "a string id's field must be private, so that every value is checked when it is made: \
                     remove `{}`, and make values with `{}::new(text)`",
                    field.vis.to_token_stream(),
                    input.ident
                ),
            );
        }
        repr
    });
    cx.check()?;
    let (Some(field), Some(repr)) = (field, repr) else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Id)] could not read this type",
        ));
    };
    Ok(IdType {
        ident: &input.ident,
        inner: &field.ty,
        repr,
        prefix: prefix
            .into_inner()
            .unwrap_or_else(|| default_prefix(&input.ident)),
    })
}

fn repr_of(ty: &Type) -> Option<Repr> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if !last.arguments.is_none() {
        return None;
    }
    match last.ident.to_string().as_str() {
        "Uuid" => Some(Repr::Uuid),
        "String" => Some(Repr::String),
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64" | "i128"
        | "isize" => Some(Repr::Int),
        _ => None,
    }
}

/// `CourseId` → `course`, `StudentAccountId` → `student_account`.
pub fn default_prefix(ident: &Ident) -> String {
    let name = ident.to_string();
    let stem = name
        .strip_suffix("Id")
        .filter(|s| !s.is_empty())
        .unwrap_or(&name);
    let mut snake = String::with_capacity(stem.len() + 4);
    for (i, c) in stem.char_indices() {
        if c.is_uppercase() {
            if i > 0 {
                snake.push('_');
            }
            snake.extend(c.to_lowercase());
        } else {
            snake.push(c);
        }
    }
    snake
}

fn expand(id: &IdType<'_>) -> TokenStream {
    let IdType {
        ident,
        inner,
        prefix,
        ..
    } = id;
    let name = ident.to_string();
    let is_tag = match id.repr {
        Repr::Uuid => quote!(::dcb_core::__private::id::is_uuid_tag(prefix, &self.0, tag)),
        Repr::Int => quote!(::dcb_core::__private::id::is_int_tag(prefix, self.0, tag)),
        Repr::String => quote!(::dcb_core::__private::id::is_tag(prefix, &self.0, tag)),
    };
    let constructors = constructors(id);
    let from_str = match id.repr {
        Repr::String => quote!(Self::new(text)),
        Repr::Uuid | Repr::Int => quote! {
            text.parse::<#inner>()
                .map(Self)
                .map_err(|err| ::dcb_core::__private::id::parse_error(#name, text, err))
        },
    };
    let deserialize = match id.repr {
        Repr::String => quote! {
            let text = <::std::string::String as ::dcb_core::__private::serde::Deserialize>::deserialize(deserializer)?;
            Self::new(text).map_err(<D::Error as ::dcb_core::__private::serde::de::Error>::custom)
        },
        Repr::Uuid | Repr::Int => quote! {
            <#inner as ::dcb_core::__private::serde::Deserialize>::deserialize(deserializer).map(Self)
        },
    };
    quote! {
        #constructors

        #[automatically_derived]
        impl ::dcb_core::Identifier for #ident {
            const PREFIX: &'static str = #prefix;

            fn tag_with_prefix(&self, prefix: &str) -> ::dcb_core::Tag {
                ::dcb_core::__private::id::tag(prefix, &self.0)
            }

            fn is_tag_with_prefix(&self, prefix: &str, tag: &::dcb_core::Tag) -> bool {
                #is_tag
            }
        }

        #[automatically_derived]
        impl ::core::fmt::Display for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&self.0, f)
            }
        }

        #[automatically_derived]
        impl ::core::str::FromStr for #ident {
            type Err = ::dcb_core::ParseIdError;

            fn from_str(text: &str) -> ::core::result::Result<Self, Self::Err> {
                #from_str
            }
        }

        #[automatically_derived]
        impl ::dcb_core::__private::serde::Serialize for #ident {
            fn serialize<S>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error>
            where
                S: ::dcb_core::__private::serde::Serializer,
            {
                ::dcb_core::__private::serde::Serialize::serialize(&self.0, serializer)
            }
        }

        #[automatically_derived]
        impl<'de> ::dcb_core::__private::serde::Deserialize<'de> for #ident {
            fn deserialize<D>(deserializer: D) -> ::core::result::Result<Self, D::Error>
            where
                D: ::dcb_core::__private::serde::Deserializer<'de>,
            {
                #deserialize
            }
        }
    }
}

fn constructors(id: &IdType<'_>) -> TokenStream {
    let IdType { ident, inner, .. } = id;
    let name = ident.to_string();
    match id.repr {
        Repr::Uuid => quote! {
            #[automatically_derived]
            #[allow(clippy::new_without_default, reason = "a new id is random: no id is the default")]
            impl #ident {
                /// A new, random id.
                #[must_use]
                pub fn new() -> Self {
                    Self(::dcb_core::Uuid::new_v4())
                }

                /// The UUID this id wraps.
                #[must_use]
                pub const fn uuid(&self) -> ::dcb_core::Uuid {
                    self.0
                }
            }
        },
        Repr::Int => quote! {
            #[automatically_derived]
            impl #ident {
                /// The id with this number.
                #[must_use]
                pub const fn new(value: #inner) -> Self {
                    Self(value)
                }

                /// The number this id wraps.
                #[must_use]
                pub const fn get(self) -> #inner {
                    self.0
                }
            }
        },
        Repr::String => quote! {
            #[automatically_derived]
            impl #ident {
                /// Checks `value` (non-empty, at most 192 bytes, no control
                /// characters) and wraps it.
                pub fn new(
                    value: impl ::core::convert::Into<::std::string::String>,
                ) -> ::core::result::Result<Self, ::dcb_core::ParseIdError> {
                    let value = value.into();
                    ::dcb_core::__private::id::check_string_id(#name, &value)?;
                    ::core::result::Result::Ok(Self(value))
                }

                /// The text of this id.
                #[must_use]
                pub fn as_str(&self) -> &str {
                    &self.0
                }
            }
        },
    }
}
