// The expansion of #[upcast(StudentJoinedCourse, from = 2)] on the fixture `upcast_from_version_2` (dcb-macros/src/tests/).
// Regenerate with `UPDATE_EXPECT=1 cargo test -p dcb-macros` and review the diff.
//
// /// Version 3 added the credits, 5 for every course before.
// fn credits_were_five(mut data: Value) -> Value {
//     data["credits"] = json!(5);
//     data
// }

#[allow(clippy::needless_pass_by_value)]
/// Version 3 added the credits, 5 for every course before.
fn credits_were_five(mut data: Value) -> Value {
    data["credits"] = json!(5);
    data
}
/// Fails the build unless the event type's version is above `from`.
const _: () = ::dcb_core::__private::upcasts_older_version(
    2,
    <StudentJoinedCourse as ::dcb_core::Event>::VERSION,
    "credits_were_five",
    "StudentJoinedCourse",
);
::dcb_core::__private::inventory::submit! {
    ::dcb_core::versioning::Upcaster::of(< StudentJoinedCourse as ::dcb_core::Event >
    ::NAME, 2, ::core::concat!(::core::module_path!(), "::",
    ::core::stringify!(credits_were_five)), | data | < Value as
    ::dcb_core::versioning::UpcastOutput > ::into_result(credits_were_five(< Value as
    ::dcb_core::__private::UpcastInput > ::from_json(data))),)
}
