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

    /// The field's type as written, to compare with another's.
    fn written_type(&self) -> String {
        self.ty.to_token_stream().to_string()
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

/// Parses the `#[tag]` fields and compares the prefixes the macro can
/// compare itself: two prefixes given as literals. Prefixes of id types are
/// compared by the compiler (see [`distinct_prefixes`]).
fn parse_tags<'a>(cx: &mut Ctxt, fields: &'a Fields) -> Vec<TagField<'a>> {
    let mut tags: Vec<TagField<'a>> = Vec::new();
    for (index, field) in fields.iter().enumerate() {
        let Some(tag) = parse_tag(cx, index, field) else {
            continue;
        };
        if let Some(lit) = &tag.prefix {
            let earlier = tags.iter().find(|other| {
                other
                    .prefix
                    .as_ref()
                    .is_some_and(|given| given.value() == lit.value())
            });
            if let Some(other) = earlier {
                let one_type = if other.written_type() == tag.written_type() {
                    "; or, for two tags of one kind, remove `prefix` from both: fields of \
                     one id type are tagged alike"
                } else {
                    ""
                };
                cx.error_spanned_by(
                    lit,
                    format!(
                        "{} is given the tag prefix of {}, so a query could not tell \
                         their tags apart: give it another one{one_type}",
                        tag.name(),
                        other.name()
                    ),
                );
            }
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
    // Several fields of one id type are several tags of one kind, and one
    // promise that every event carries that kind: one impl per type.
    let mut promised: Vec<String> = Vec::new();
    let has_tags = event
        .tags
        .iter()
        .filter(|tag| tag.always_one && tag.prefix.is_none())
        .filter(|tag| {
            let written = tag.written_type();
            let first = !promised.contains(&written);
            promised.push(written);
            first
        })
        .map(|tag| {
            let ty = tag.ty;
            quote_spanned! {ty.span()=>
                #[automatically_derived]
                impl ::dcb_core::HasTag<#ty> for #ident {}
            }
        })
        .collect::<Vec<_>>();
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

/// Asserts that no two tag fields have one prefix where the macro could
/// not compare them itself: where one of the two is the prefix of an id
/// type, known only to the compiler (two given prefixes were compared in
/// [`parse_tags`]). Two fields of one id type without a given prefix are
/// several tags of one kind, the same for a query, and pass: fields of one
/// type as written are checked once, others by the compiler, which knows
/// whether their id types are one. Each assertion is one call, located at
/// the given prefix if there is one, otherwise at the later field's type,
/// so a failure points there.
fn distinct_prefixes(tags: &[TagField<'_>]) -> Option<TokenStream> {
    // A field of the type of an earlier one, both without a given prefix,
    // is checked as that one is.
    let checked: Vec<(usize, &TagField<'_>)> = tags
        .iter()
        .enumerate()
        .filter(|(i, tag)| {
            tag.prefix.is_some()
                || !tags[..*i].iter().any(|other| {
                    other.prefix.is_none() && other.written_type() == tag.written_type()
                })
        })
        .collect();
    let mut checks: Vec<TokenStream> = Vec::new();
    let mut compares_id_types = false;
    for (k, &(later, tag)) in checked.iter().enumerate() {
        for &(earlier, other) in &checked[..k] {
            let earlier_index = Literal::usize_unsuffixed(earlier);
            let later_index = Literal::usize_unsuffixed(later);
            checks.push(match (&other.prefix, &tag.prefix) {
                (Some(_), Some(_)) => continue,
                (None, None) => {
                    compares_id_types = true;
                    let (a, b) = (other.ty, tag.ty);
                    quote_spanned! {b.span()=>
                        ::dcb_core::__private::distinct_id_prefixes(
                            TAGS,
                            #earlier_index,
                            #later_index,
                            ::dcb_core::__private::IdTypes::<
                                <#a as ::dcb_core::TagField>::Id,
                                <#b as ::dcb_core::TagField>::Id,
                            >::SAME,
                        );
                    }
                }
                (Some(given), None) => quote_spanned! {given.span()=>
                    ::dcb_core::__private::given_prefix_free(TAGS, #earlier_index, #later_index);
                },
                (None, Some(given)) => quote_spanned! {given.span()=>
                    ::dcb_core::__private::given_prefix_free(TAGS, #later_index, #earlier_index);
                },
            });
        }
    }
    if checks.is_empty() {
        return None;
    }
    let entries = tags.iter().map(|tag| {
        let (field, prefix) = (tag.name(), tag.prefix_expr());
        quote!((#field, #prefix))
    });
    // The fallback for two different id types, found by path resolution
    // when `IdTypes`' own `SAME` (for one type twice) does not apply.
    let different = compares_id_types.then(|| {
        quote!(
            use ::dcb_core::__private::DifferentIdTypes as _;
        )
    });
    Some(quote! {
        /// Fails the build if two tag fields have one prefix but are not
        /// tags of one id type.
        const _: () = {
            #different
            /// The tag fields, by name, and their prefixes.
            const TAGS: &[(&str, &str)] = &[#(#entries),*];
            #(#checks)*
        };
    })
}
