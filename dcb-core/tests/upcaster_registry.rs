//! Upcasters missing or given twice: decoding names the version it cannot
//! upcast, and the registry reports every such version with where to look.
//! (A test binary of its own, since these mistakes make the whole binary's
//! registry invalid.)

use dcb_core::versioning::VersionError;
use dcb_core::{Event, EventRecord, Position, SequencedEvent, registry, upcast};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// At version 3, with an upcaster from 2 but none from 1.
#[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
#[event(version = 3)]
struct StudentJoinedCourse {
    student_name: String,
}

#[upcast(StudentJoinedCourse, from = 2)]
fn from_2(data: Value) -> Value {
    data
}

/// At version 2, with two upcasters from 1.
#[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
#[event(name = "CourseRenamed", version = 2)]
struct Renamed {
    title: String,
}

#[upcast(Renamed, from = 1)]
fn name_to_title(data: Value) -> Value {
    data
}

mod elsewhere {
    use dcb_core::upcast;
    use serde_json::Value;

    #[upcast(super::Renamed, from = 1)]
    fn name_to_title_again(data: Value) -> Value {
        data
    }
}

#[test]
fn decoding_names_the_missing_upcaster() {
    let stored = SequencedEvent::new(
        Position::new(12).unwrap(),
        EventRecord::new(
            StudentJoinedCourse::EVENT_TYPE,
            &br#"{"student_name":"Sara"}"#[..],
        ),
    );
    let err = StudentJoinedCourse::from_event(&stored).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot decode event StudentJoinedCourse at position 12: no upcaster for \
         StudentJoinedCourse version 1 → 2: add `#[upcast(StudentJoinedCourse, from = 1)]` \
         to a function that turns the data of version 1 into that of version 2"
    );
    // From version 2 on, the chain is complete.
    let at_2 = StudentJoinedCourse::decode(br#"{"_version":2,"student_name":"Sara"}"#).unwrap();
    assert_eq!(at_2.student_name, "Sara");
}

#[test]
fn decoding_refuses_to_choose_between_two_upcasters() {
    let err = Renamed::decode(br#"{"title":"Maths"}"#).unwrap_err();
    let err = err.downcast_ref::<VersionError>().unwrap();
    assert!(
        matches!(err, VersionError::Ambiguous { event_type: "CourseRenamed", from: 1, declared_at } if declared_at.len() == 2),
        "{err}"
    );
}

#[test]
fn validate_reports_missing_and_duplicated_upcasters() {
    let err = registry::validate().unwrap_err();
    assert!(err.duplicates.is_empty());

    assert_eq!(err.missing_upcasters.len(), 1);
    let missing = &err.missing_upcasters[0];
    assert_eq!(missing.event_type, "StudentJoinedCourse");
    assert_eq!(missing.rust_type, "upcaster_registry::StudentJoinedCourse");
    assert_eq!(missing.from, 1);

    assert_eq!(err.duplicate_upcasters.len(), 1);
    let duplicate = &err.duplicate_upcasters[0];
    assert_eq!(duplicate.event_type, "CourseRenamed");
    assert_eq!(duplicate.from, 1);
    let mut functions: Vec<&str> = duplicate.functions.iter().map(|(f, _)| *f).collect();
    functions.sort_unstable();
    assert_eq!(
        functions,
        [
            "upcaster_registry::elsewhere::name_to_title_again",
            "upcaster_registry::name_to_title"
        ]
    );
    assert!(
        duplicate
            .functions
            .iter()
            .all(|(_, at)| at.contains("upcaster_registry.rs:"))
    );

    let message = err.to_string();
    assert!(
        message.contains(
            "StudentJoinedCourse version 1 → 2 (upcaster_registry::StudentJoinedCourse): \
             add #[upcast(StudentJoinedCourse, from = 1)]"
        ),
        "{message}"
    );
    assert!(
        message.contains("CourseRenamed version 1 → 2 by"),
        "{message}"
    );
    assert!(
        message.contains("keep one upcaster per version"),
        "{message}"
    );
}
