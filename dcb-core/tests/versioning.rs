//! Event versioning end to end: a type at version 3 decodes the events its
//! versions 1 and 2 stored (committed in `tests/fixtures/versioning/`),
//! encodes at version 3 and reads it back, refuses data of a newer version,
//! and a decision folds old and new events alike from the in-memory store.

use std::fs;

use dcb_core::load;
use dcb_core::versioning::VersionError;
use dcb_core::{
    Event, EventRecord, EventType, Id, InMemoryStore, Position, SequencedEvent, Tag, Uuid, decide,
    decision, registry, upcast,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(Uuid);

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct StudentId(Uuid);

#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
struct CourseRegistered {
    #[tag]
    course_id: CourseId,
    name: String,
    places: u32,
}

/// Version 1 had `student_name`; version 2 split it into a first and a last
/// name; version 3 added the credits the course gives, 5 for every course
/// before.
#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
#[event(version = 3)]
#[serde(deny_unknown_fields)]
struct StudentJoinedCourse {
    #[tag]
    course_id: CourseId,
    #[tag]
    student_id: StudentId,
    first_name: String,
    last_name: String,
    credits: u32,
}

#[upcast(StudentJoinedCourse, from = 1)]
fn split_student_name(mut data: Value) -> Result<Value, String> {
    let object = data.as_object_mut().ok_or("not an object")?;
    let name = object.remove("student_name").ok_or("no `student_name`")?;
    let name = name.as_str().ok_or("`student_name` is not a string")?;
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    object.insert("first_name".into(), json!(first));
    object.insert("last_name".into(), json!(last));
    Ok(data)
}

#[upcast(StudentJoinedCourse, from = 2)]
fn credits_were_five(mut data: Value) -> Value {
    data["credits"] = json!(5);
    data
}

/// A versioned event that is not a JSON object, so it cannot be encoded.
#[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
#[event(version = 2)]
struct TermStarted(u32);

#[upcast(TermStarted, from = 1)]
fn term_unchanged(data: Value) -> Value {
    data
}

const DCB: &str = "0b6c3a52-5f43-4a8e-9d07-3c1f6a2e9b10";
const FRENCH: &str = "5d2e8f14-7a9b-4c3d-8e1f-2a6b9c0d4e57";

fn course(id: &str) -> CourseId {
    CourseId(id.parse().unwrap())
}

fn student(n: u8) -> StudentId {
    StudentId(
        format!("a1b2c3d4-000{n}-4000-8000-00000000000{n}")
            .parse()
            .unwrap(),
    )
}

/// The events of the fixture, in order, as the store gave them back.
fn stored_events() -> Vec<EventRecord> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/versioning/stored_events.jsonl"
    );
    let text = fs::read_to_string(path).unwrap();
    text.lines()
        .map(|line| {
            let line: Value = serde_json::from_str(line).unwrap();
            let tags: Vec<Tag> = line["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|tag| Tag::new(tag.as_str().unwrap()).unwrap())
                .collect();
            let event_type = EventType::new(line["type"].as_str().unwrap()).unwrap();
            let data = line["data"].as_str().unwrap().as_bytes().to_vec();
            EventRecord::new(event_type, data).with_tags(tags)
        })
        .collect()
}

fn sequenced(event: EventRecord, position: u64) -> SequencedEvent {
    SequencedEvent::new(Position::new(position).unwrap(), event)
}

fn joined(
    course_id: CourseId,
    n: u8,
    first: &str,
    last: &str,
    credits: u32,
) -> StudentJoinedCourse {
    StudentJoinedCourse {
        course_id,
        student_id: student(n),
        first_name: first.into(),
        last_name: last.into(),
        credits,
    }
}

#[test]
fn the_registry_is_complete() {
    registry::validate().unwrap();
    assert_eq!(registry::find("StudentJoinedCourse").unwrap().version, 3);
    assert_eq!(registry::find("CourseRegistered").unwrap().version, 1);
}

#[test]
fn events_stored_at_versions_1_and_2_decode_into_version_3() {
    let events = stored_events();
    let decoded: Vec<StudentJoinedCourse> = events
        .iter()
        .zip(1..)
        .filter(|(event, _)| event.event_type() == &StudentJoinedCourse::EVENT_TYPE)
        .map(|(event, position)| {
            StudentJoinedCourse::from_event(&sequenced(event.clone(), position)).unwrap()
        })
        .collect();
    assert_eq!(decoded.len(), 4);
    let [sara, mollie, grace, allard] = &decoded[..] else {
        unreachable!()
    };
    // Version 1.
    assert_eq!(sara.course_id, course(DCB));
    assert_eq!(sara.student_id, student(1));
    assert_eq!(sara.first_name, "Sara");
    assert_eq!(sara.last_name, "Smith");
    assert_eq!(sara.credits, 5);
    assert_eq!(mollie.student_id, student(2));
    assert_eq!(mollie.first_name, "Mollie");
    assert_eq!(mollie.last_name, "Jones");
    assert_eq!(mollie.credits, 5);
    assert_eq!(grace.course_id, course(FRENCH));
    assert_eq!(grace.student_id, student(4));
    assert_eq!(grace.first_name, "Grace");
    assert_eq!(grace.last_name, "Hopper");
    assert_eq!(grace.credits, 5);
    // Version 2: a last name with a space survives, the version member goes.
    assert_eq!(allard.course_id, course(DCB));
    assert_eq!(allard.student_id, student(3));
    assert_eq!(allard.first_name, "Allard");
    assert_eq!(allard.last_name, "de Vries");
    assert_eq!(allard.credits, 5);
    // An unversioned type stored before versioning still decodes as it was.
    let registered = CourseRegistered::from_event(&sequenced(events[0].clone(), 1)).unwrap();
    assert_eq!(registered.name, "Dynamic Consistency Boundaries");
    assert_eq!(registered.places, 5);
}

#[test]
fn the_registry_shows_old_events_as_json_of_the_current_version() {
    let events = stored_events();
    let json = registry::to_json(&sequenced(events[2].clone(), 3)).unwrap();
    assert_eq!(
        json,
        json!({
            "course_id": DCB,
            "student_id": student(1).to_string(),
            "first_name": "Sara",
            "last_name": "Smith",
            "credits": 5,
        })
    );
}

#[test]
fn the_current_version_round_trips_with_its_version_in_the_data() {
    let bastian = joined(course(DCB), 5, "Bastian", "Weber", 6);
    let event = bastian.to_event().unwrap();
    assert_eq!(event.event_type(), "StudentJoinedCourse");
    let data = std::str::from_utf8(event.data()).unwrap();
    assert!(data.starts_with(r#"{"_version":3,"course_id":"#), "{data}");
    assert_eq!(
        StudentJoinedCourse::from_event(&sequenced(event, 9)).unwrap(),
        bastian
    );
    // Unversioned events are encoded exactly as before versioning.
    let events = stored_events();
    let registered = CourseRegistered::decode(events[1].data()).unwrap();
    assert_eq!(registered.encode().unwrap(), events[1].data().as_ref());
}

#[test]
fn data_of_a_newer_version_is_refused() {
    let data = br#"{"_version":4,"course_id":"0b6c3a52-5f43-4a8e-9d07-3c1f6a2e9b10"}"#;
    let event = EventRecord::new(StudentJoinedCourse::EVENT_TYPE, data.to_vec());
    let err = StudentJoinedCourse::from_event(&sequenced(event, 7)).unwrap_err();
    assert_eq!(
        err.cause.downcast_ref::<VersionError>(),
        Some(&VersionError::Newer {
            event_type: "StudentJoinedCourse",
            stored: 4,
            current: 3
        })
    );
    assert_eq!(
        err.to_string(),
        "cannot decode event StudentJoinedCourse at position 7: StudentJoinedCourse was \
         stored at version 4, newer than version 3 of this program: it was written by a \
         newer version of the program, which this one cannot read"
    );
}

#[test]
fn a_version_that_is_not_a_number_is_refused() {
    for version in ["0", "\"2\"", "-1", "4294967296"] {
        let data = format!(r#"{{"_version":{version},"course_id":"{DCB}"}}"#);
        let err = StudentJoinedCourse::decode(data.as_bytes()).unwrap_err();
        let err = err.downcast_ref::<VersionError>().unwrap();
        assert!(
            matches!(err, VersionError::InvalidVersion { found, .. } if *found == version),
            "{err}"
        );
    }
}

#[test]
fn an_upcaster_error_names_the_upcaster_and_the_version() {
    let event = EventRecord::new(
        StudentJoinedCourse::EVENT_TYPE,
        br#"{"course_id":1}"#.to_vec(),
    );
    let err = StudentJoinedCourse::from_event(&sequenced(event, 2)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot decode event StudentJoinedCourse at position 2: the upcaster \
         versioning::split_student_name of StudentJoinedCourse version 1 → 2 failed: \
         no `student_name`"
    );
}

#[test]
fn a_versioned_event_must_be_a_json_object() {
    let err = TermStarted(3).to_event().unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot encode event TermStarted: TermStarted at version 2 must serialize as a JSON \
         object, to carry its version in a `\"_version\"` member, but it serializes as a number"
    );
    // Its version 1 data was not an object either, and still decodes.
    assert_eq!(TermStarted::decode(b"3").unwrap(), TermStarted(3));
}

/// The students of a course and the credits they earn, in join order.
#[decision]
struct Roster {
    #[boundary]
    course_id: CourseId,
    places: u32,
    students: Vec<String>,
    credits: u32,
}

#[decision]
impl Roster {
    fn registered(&mut self, event: &CourseRegistered) {
        self.places = event.places;
    }

    fn joined(&mut self, event: &StudentJoinedCourse) {
        self.students
            .push(format!("{} {}", event.first_name, event.last_name));
        self.credits += event.credits;
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn a_decision_folds_events_of_every_version() {
    let store = InMemoryStore::new();
    for event in stored_events() {
        store.append_now(vec![event], None).unwrap();
    }
    let dcb = course(DCB);
    let bastian = joined(dcb, 5, "Bastian", "Weber", 6);
    let join = |roster: &Roster| {
        if roster.students.len() < roster.places as usize {
            Ok(bastian.clone())
        } else {
            Err("fully booked")
        }
    };
    let appended = block_on(decide(&store, Roster::new(dcb), join)).unwrap();
    assert_eq!(appended, store.head_now());

    let roster = block_on(load(&store, Roster::new(dcb))).unwrap();
    assert_eq!(
        roster.students,
        [
            "Sara Smith",
            "Mollie Jones",
            "Allard de Vries",
            "Bastian Weber"
        ]
    );
    assert_eq!(roster.credits, 5 + 5 + 5 + 6);
    let french = block_on(load(&store, Roster::new(course(FRENCH)))).unwrap();
    assert_eq!(french.students, ["Grace Hopper"]);
}
