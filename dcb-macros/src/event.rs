//! `#[derive(Event)]`: parse, validate, expand.

use proc_macro2::{Literal, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{
    Data, DeriveInput, Expr, ExprLit, Field, Fields, Ident, Lit, LitInt, LitStr, Member, Path, Type,
};

use crate::attr::{Setting, check_name, parse_keys, unknown_key};
use crate::ctxt::Ctxt;
use crate::id::MAX_PREFIX_LEN;
use crate::symbol::{CODEC, EVENT, NAME, PREFIX, TAG, VERSION};

/// The longest event type name (`dcb_core::MAX_NAME_LEN`).
const MAX_NAME_LEN: usize = 256;

/// The member of a versioned event's JSON that holds its version
/// (`dcb_core::versioning::VERSION_MEMBER`).
const VERSION_MEMBER: &str = "_version";

pub fn derive(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<DeriveInput>(input) {
        Ok(input) => input,
        Err(err) => return err.to_compile_error(),
    };
    match parse(&input) {
        Ok(event) => expand(&event),
        Err(err) => fallback(&input, &err),
    }
}

/// The errors, and a stub impl that keeps every use of the type from
/// failing too: the user sees the mistake, not a cascade of "not an event".
fn fallback(input: &DeriveInput, err: &syn::Error) -> TokenStream {
    let mut tokens = err.to_compile_error();
    if input.generics.params.is_empty() && !matches!(input.data, Data::Union(_)) {
        let ident = &input.ident;
        let name = ident.to_string();
        tokens.extend(quote! {
            impl ::dcb_core::Event for #ident {
                const NAME: &'static str = #name;

                fn tags(&self) -> ::dcb_core::Tags {
                    ::core::unreachable!()
                }

                fn encode(&self) -> ::core::result::Result<::std::vec::Vec<u8>, ::dcb_core::codec::CodecError> {
                    ::core::unreachable!()
                }

                fn decode(_: &[u8]) -> ::core::result::Result<Self, ::dcb_core::codec::CodecError> {
                    ::core::unreachable!()
                }
            }
        });
    }
    tokens
}

/// A parsed and validated `#[derive(Event)]` input.
struct EventType<'a> {
    ident: &'a Ident,
    name: String,
    codec: TokenStream,
    /// The version from `#[event(version = N)]`, if above 1.
    version: Option<LitInt>,
    tags: Vec<TagField<'a>>,
}

/// A `#[tag]` field.
struct TagField<'a> {
    member: Member,
    ty: &'a Type,
    /// The prefix given with `#[tag(prefix = "...")]`.
    prefix: Option<LitStr>,
    /// Whether the field always holds exactly one id (not `Option`/`Vec`).
    always_one: bool,
}

impl TagField<'_> {
    /// The field's name, for messages.
    fn name(&self) -> String {
        match &self.member {
            Member::Named(ident) => format!("`{ident}`"),
            Member::Unnamed(index) => format!("field {}", index.index),
        }
    }

    /// What the prefix is known to be before type checking: the literal
    /// given, or "the prefix of this id type".
    fn prefix_key(&self) -> PrefixKey {
        match &self.prefix {
            Some(lit) => PrefixKey::Given(lit.value()),
            None => PrefixKey::OfType(self.ty.to_token_stream().to_string()),
        }
    }

    /// The prefix, as a constant expression.
    fn prefix_expr(&self) -> TokenStream {
        let ty = self.ty;
        if let Some(lit) = &self.prefix {
            lit.to_token_stream()
        } else {
            quote_spanned! {ty.span()=>
                <<#ty as ::dcb_core::TagField>::Id as ::dcb_core::Identifier>::PREFIX
            }
        }
    }
}

#[derive(PartialEq)]
enum PrefixKey {
    Given(String),
    OfType(String),
}

fn parse(input: &DeriveInput) -> Result<EventType<'_>, syn::Error> {
    let mut cx = Ctxt::default();
    let mut name = Setting::new(NAME);
    let mut codec: Setting<Path> = Setting::new(CODEC);
    let mut version: Setting<LitInt> = Setting::new(VERSION);
    for attr in input.attrs.iter().filter(|a| a.path() == EVENT) {
        if matches!(attr.meta, syn::Meta::Path(_)) {
            cx.error_spanned_by(
                attr,
                "`#[event]` needs a setting, such as `#[event(name = \"CourseRegistered\")]`",
            );
        }
        parse_keys(&mut cx, attr, |cx, meta| {
            if meta.path == NAME {
                let lit: LitStr = meta.value()?.parse()?;
                check_name(cx, &lit, "the event type name", MAX_NAME_LEN, true);
                name.set(cx, &meta.path, lit.value());
                Ok(())
            } else if meta.path == CODEC {
                let path: Path = meta.value()?.parse()?;
                codec.set(cx, &meta.path, path);
                Ok(())
            } else if meta.path == VERSION {
                if let Some(lit) = parse_version(cx, meta)? {
                    version.set(cx, &meta.path, lit);
                }
                Ok(())
            } else {
                Err(unknown_key(meta, EVENT, &[NAME, CODEC, VERSION]))
            }
        });
    }
    let codec = codec.into_inner();
    let version = version
        .into_inner()
        .filter(|lit| lit.base10_digits() != "1");
    if let (Some(codec), Some(version)) = (&codec, &version) {
        cx.error_spanned_by(
            codec,
            format!(
                "a versioned event is stored as JSON, with its version in a `\"{VERSION_MEMBER}\"` \
                 member: remove `codec` to keep `version = {version}`"
            ),
        );
    }
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(
            &input.generics,
            "an event type cannot be generic: its stored type name must name one type",
        );
    }
    let fields = match &input.data {
        Data::Struct(data) => Some(&data.fields),
        Data::Enum(data) => {
            cx.error_spanned_by(
                data.enum_token,
                "#[derive(Event)] goes on a struct: derive it on a struct per event, and wrap them in an enum if you need one",
            );
            None
        }
        Data::Union(data) => {
            cx.error_spanned_by(
                data.union_token,
                "#[derive(Event)] goes on a struct, not a union",
            );
            None
        }
    };
    let tags = fields.map(|f| parse_tags(&mut cx, f)).unwrap_or_default();
    if let Some(fields) = fields {
        check_version_member(&mut cx, fields);
    }
    cx.check()?;
    Ok(EventType {
        ident: &input.ident,
        name: name.into_inner().unwrap_or_else(|| input.ident.to_string()),
        codec: codec.map_or_else(
            || quote!(::dcb_core::codec::Json),
            ToTokens::into_token_stream,
        ),
        version,
        tags,
    })
}

/// Parses `version = N`: an integer literal, 1 or more, that fits a `u32`.
/// `None` after an error recorded in `cx`.
fn parse_version(cx: &mut Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Option<LitInt>> {
    let value: Expr = meta.value()?.parse()?;
    let lit = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => lit,
        other => {
            cx.error_spanned_by(
                other,
                "the version is an integer literal, such as `version = 2`",
            );
            return Ok(None);
        }
    };
    match lit.base10_parse::<u32>() {
        Ok(0) => {
            cx.error_spanned_by(
                &lit,
                "versions start at 1, the version of an event type never changed; \
                 the first change makes it `version = 2`",
            );
            Ok(None)
        }
        Ok(_) => Ok(Some(LitInt::new(lit.base10_digits(), lit.span()))),
        Err(_) => {
            cx.error_spanned_by(&lit, "the version must fit a `u32`");
            Ok(None)
        }
    }
}

/// Rejects a field that would be serialized as the reserved `_version`
/// member: by its name, or by a `#[serde(rename = "_version")]`.
fn check_version_member(cx: &mut Ctxt, fields: &Fields) {
    for field in fields {
        let renamed = serde_rename(field);
        let at = match (&renamed, &field.ident) {
            (Some(lit), _) if lit.value() == VERSION_MEMBER => lit.to_token_stream(),
            (None, Some(ident)) if ident == VERSION_MEMBER => ident.to_token_stream(),
            _ => continue,
        };
        cx.error_spanned_by(
            at,
            format!(
                "`{VERSION_MEMBER}` is reserved for the version of a stored event: \
                 rename the field, or serialize it under another name with \
                 `#[serde(rename = \"...\")]`"
            ),
        );
    }
}

/// The name given by `#[serde(rename = "...")]` on a field, if any; other
/// forms of `rename` and other keys are serde's business.
fn serde_rename(field: &Field) -> Option<LitStr> {
    let mut renamed = None;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                if let Ok(value) = meta.value() {
                    renamed = value.parse::<LitStr>().ok();
                }
            } else if let Ok(value) = meta.value() {
                // Skip the value of another key.
                value.parse::<Expr>()?;
            }
            Ok(())
        });
    }
    renamed
}

fn parse_tags<'a>(cx: &mut Ctxt, fields: &'a Fields) -> Vec<TagField<'a>> {
    let mut tags: Vec<TagField<'a>> = Vec::new();
    for (index, field) in fields.iter().enumerate() {
        let Some(tag) = parse_tag(cx, index, field) else {
            continue;
        };
        let key = tag.prefix_key();
        if let Some(other) = tags.iter().find(|other| other.prefix_key() == key) {
            let (at, message) = if let Some(lit) = &tag.prefix {
                (
                    lit.to_token_stream(),
                    format!(
                        "{} has the same tag prefix as {}; give one of them another",
                        tag.name(),
                        other.name()
                    ),
                )
            } else {
                (
                    tag.ty.to_token_stream(),
                    format!(
                        "{} has the same tag prefix as {}, as both hold a `{}`; \
                         give one of them its own with `#[tag(prefix = \"...\")]`",
                        tag.name(),
                        other.name(),
                        tag.ty.to_token_stream().to_string().replace(' ', "")
                    ),
                )
            };
            cx.error_spanned_by(at, message);
        }
        tags.push(tag);
    }
    tags
}

fn parse_tag<'a>(cx: &mut Ctxt, index: usize, field: &'a Field) -> Option<TagField<'a>> {
    let mut attrs = field.attrs.iter().filter(|a| a.path() == TAG);
    let attr = attrs.next()?;
    for repeat in attrs {
        cx.error_spanned_by(repeat, "`#[tag]` is given twice on this field; keep one");
    }
    let mut prefix = Setting::new(PREFIX);
    parse_keys(cx, attr, |cx, meta| {
        if meta.path == PREFIX {
            let lit: LitStr = meta.value()?.parse()?;
            check_name(cx, &lit, "the tag prefix", MAX_PREFIX_LEN, false);
            prefix.set(cx, &meta.path, lit);
            Ok(())
        } else {
            Err(unknown_key(meta, TAG, &[PREFIX]))
        }
    });
    let member = field
        .ident
        .clone()
        .map_or_else(|| Member::from(index), Member::Named);
    Some(TagField {
        member,
        ty: &field.ty,
        prefix: prefix.into_inner(),
        always_one: !is_option_or_vec(&field.ty),
    })
}

fn is_option_or_vec(ty: &Type) -> bool {
    let Type::Path(path) = ty else { return false };
    path.path
        .segments
        .last()
        .is_some_and(|last| last.ident == "Option" || last.ident == "Vec")
}

fn expand(event: &EventType<'_>) -> TokenStream {
    let EventType {
        ident, name, codec, ..
    } = event;
    let (version, encode, decode) = if let Some(version) = &event.version {
        (
            Some(quote!(const VERSION: u32 = #version;)),
            quote!(::dcb_core::versioning::encode(self)),
            quote!(::dcb_core::versioning::decode(data)),
        )
    } else {
        (
            None,
            quote!(<#codec as ::dcb_core::codec::Codec>::encode(self)),
            quote!(<#codec as ::dcb_core::codec::Codec>::decode(data)),
        )
    };
    let capacity = Literal::usize_unsuffixed(event.tags.len());
    let push_tags = event.tags.iter().map(|tag| {
        let TagField { member, ty, .. } = tag;
        let id_tag = if let Some(prefix) = &tag.prefix {
            quote!(::dcb_core::Identifier::tag_with_prefix(id, #prefix))
        } else {
            quote!(::dcb_core::Identifier::tag(id))
        };
        quote_spanned! {ty.span()=>
            <#ty as ::dcb_core::TagField>::for_each_id(&self.#member, |id| tags.push(#id_tag));
        }
    });
    let has_tags = event
        .tags
        .iter()
        .filter(|tag| tag.always_one && tag.prefix.is_none())
        .map(|tag| {
            let ty = tag.ty;
            quote_spanned! {ty.span()=>
                #[automatically_derived]
                impl ::dcb_core::HasTag<#ty> for #ident {}
            }
        });
    let distinct_prefixes = distinct_prefixes(&event.tags);
    let tags_binding = if event.tags.is_empty() {
        quote!(::dcb_core::Tags::new())
    } else {
        quote! {
            let mut tags = ::std::vec::Vec::with_capacity(#capacity);
            #(#push_tags)*
            ::dcb_core::Tags::from(tags)
        }
    };
    quote! {
        #[automatically_derived]
        impl ::dcb_core::Event for #ident {
            const NAME: &'static str = #name;
            #version

            fn tags(&self) -> ::dcb_core::Tags {
                #tags_binding
            }

            fn encode(&self) -> ::core::result::Result<::std::vec::Vec<u8>, ::dcb_core::codec::CodecError> {
                #encode
            }

            fn decode(data: &[u8]) -> ::core::result::Result<Self, ::dcb_core::codec::CodecError> {
                #decode
            }
        }

        #(#has_tags)*

        #distinct_prefixes

        ::dcb_core::__private::inventory::submit! {
            ::dcb_core::registry::Registration::of::<#ident>()
        }
    }
}

/// Asserts that each tag field's prefix differs from those of the fields
/// before it, where the macro could not compare them itself: where one of
/// the two is the prefix of an id type, known only to the compiler (the
/// others were compared in [`parse_tags`]). Each assertion is one call,
/// located at the field's type or given prefix, so a failure points there.
fn distinct_prefixes(tags: &[TagField<'_>]) -> Option<TokenStream> {
    let checks: Vec<TokenStream> = tags
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(i, tag)| tag.prefix.is_none() || tags[..*i].iter().any(|t| t.prefix.is_none()))
        .map(|(i, tag)| {
            let at = tag
                .prefix
                .as_ref()
                .map_or_else(|| tag.ty.span(), LitStr::span);
            let i = Literal::usize_unsuffixed(i);
            quote_spanned! {at=>
                ::dcb_core::__private::new_tag_prefix(TAGS, #i);
            }
        })
        .collect();
    if checks.is_empty() {
        return None;
    }
    let entries = tags.iter().map(|tag| {
        let (field, prefix) = (tag.name(), tag.prefix_expr());
        quote!((#field, #prefix))
    });
    Some(quote! {
        /// Fails the build if a tag field has the tag prefix of an earlier one.
        const _: () = {
            /// The tag fields, by name, and their prefixes.
            const TAGS: &[(&str, &str)] = &[#(#entries),*];
            #(#checks)*
        };
    })
}
