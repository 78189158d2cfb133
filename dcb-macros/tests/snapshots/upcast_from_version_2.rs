// The expansion of #[upcast(StudentJoinedCourse, from = 2)] on the fixture `upcast_from_version_2` (dcb-macros/src/tests/).
// Regenerate with `DCB_SNAPSHOTS=overwrite cargo test -p dcb-macros` and review the diff.
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
const _: () = {
    if 2 >= <StudentJoinedCourse as ::dcb_core::Event>::VERSION {
        ::core::panic!(
            "`credits_were_five` upcasts version 2 of `StudentJoinedCourse` to version 3, so `StudentJoinedCourse` needs `#[event(version = 3)]` or higher: raise its version, or fix `from`"
        );
    }
};
::dcb_core::__private::inventory::submit! {
    ::dcb_core::versioning::Upcaster { event_type : < StudentJoinedCourse as
    ::dcb_core::Event > ::NAME, from : 2, function :
    ::core::concat!(::core::module_path!(), "::", ::core::stringify!(credits_were_five)),
    declared_at : ::core::concat!(::core::file!(), ":", ::core::line!()), upcast : | data
    | < Value as ::dcb_core::versioning::UpcastOutput > ::into_result(credits_were_five(<
    Value as ::dcb_core::__private::UpcastInput > ::from_json(data))), }
}
