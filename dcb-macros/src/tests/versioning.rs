//! `#[upcast]` on a function.

use quote::quote;

use super::assert_snapshot;

#[test]
fn upcast_from_version_2() {
    let args = quote!(StudentJoinedCourse, from = 2);
    let input = quote! {
        /// Version 3 added the credits, 5 for every course before.
        fn credits_were_five(mut data: Value) -> Value {
            data["credits"] = json!(5);
            data
        }
    };
    assert_snapshot(
        "upcast_from_version_2",
        "#[upcast(StudentJoinedCourse, from = 2)]",
        &input,
        crate::versioning::attribute(args, input.clone()),
    );
}
