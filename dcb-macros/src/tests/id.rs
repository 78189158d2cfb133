//! `#[derive(Id)]`: one fixture per kind of id.

use quote::quote;

use super::assert_snapshot;

#[track_caller]
fn snapshot(name: &str, input: &proc_macro2::TokenStream) {
    assert_snapshot(
        name,
        "#[derive(Id)]",
        input,
        crate::id::derive(input.clone()),
    );
}

#[test]
fn id_uuid() {
    snapshot(
        "id_uuid",
        &quote! {
            /// A course.
            #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
            pub struct CourseId(Uuid);
        },
    );
}

#[test]
fn id_integer_with_prefix() {
    snapshot(
        "id_integer_with_prefix",
        &quote! {
            #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
            #[id(prefix = "invoice")]
            pub struct InvoiceNumber(u64);
        },
    );
}

#[test]
fn id_string() {
    snapshot(
        "id_string",
        &quote! {
            #[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
            pub struct StudentAccountId(String);
        },
    );
}
