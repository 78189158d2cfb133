//! Typed ids, domain events and decisions end to end on the in-memory store:
//! the derived queries and conditions, the decide runner (conflicts, retry,
//! domain versus store errors), narrowing with `#[no_conflict]`, composite
//! decisions, and the test kit.

use std::sync::atomic::{AtomicU32, Ordering};

use dcb_core::testkit::given;
use dcb_core::{
    DecideError, Decider, Event, EventRecord, EventStore, Id, Identifier, InMemoryStore, Position,
    Projection, Query, ReadOptions, Retry, SequencedEvent, decide, decision,
};
use serde::{Deserialize, Serialize};

use crate::support::block_on;

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct StudentId(dcb_core::Uuid);

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[id(prefix = "room")]
struct RoomNumber(u32);

#[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
struct Username(String);

#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
struct CourseRegistered {
    #[tag]
    course_id: CourseId,
    name: String,
    places: u32,
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
struct CourseRenamed {
    #[tag]
    course_id: CourseId,
    name: String,
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
struct CoursePlacesChanged {
    #[tag]
    course_id: CourseId,
    places: u32,
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
#[event(name = "StudentJoinedCourse")]
struct Joined {
    #[tag]
    course_id: CourseId,
    #[tag]
    student_id: StudentId,
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
struct StudentRegistered {
    #[tag]
    student_id: StudentId,
    max_courses: u32,
}

/// An event with every kind of tag field.
#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
struct LectureScheduled {
    #[tag]
    course_id: CourseId,
    #[tag]
    room: Option<RoomNumber>,
    #[tag]
    attendees: Vec<StudentId>,
    #[tag(prefix = "lecturer")]
    lecturer: Username,
}

#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    CourseNotFound,
    FullyBooked,
    AlreadyJoined,
}

/// Whether a course has room for one more student.
#[decision]
#[derive(Clone, Debug)]
struct CourseCapacity {
    #[boundary]
    course_id: CourseId,
    exists: bool,
    places: u32,
    joined: u32,
    name: String,
}

#[decision]
impl CourseCapacity {
    fn registered(&mut self, event: &CourseRegistered) {
        self.exists = true;
        self.places = event.places;
        self.name.clone_from(&event.name);
    }

    fn places_changed(&mut self, event: &CoursePlacesChanged) {
        self.places = event.places;
    }

    fn joined(&mut self, _: &Joined) {
        self.joined += 1;
    }

    /// The name is shown in messages only: a rename must not stop a join.
    #[no_conflict]
    fn renamed(&mut self, event: &CourseRenamed) {
        self.name.clone_from(&event.name);
    }
}

/// The same state without `#[no_conflict]`, to show what it changes.
#[decision]
#[derive(Clone, Debug)]
struct StrictCourseCapacity {
    #[boundary]
    course_id: CourseId,
    places: u32,
    joined: u32,
    name: String,
}

#[decision]
impl StrictCourseCapacity {
    fn registered(&mut self, event: &CourseRegistered) {
        self.places = event.places;
    }

    fn joined(&mut self, _: &Joined) {
        self.joined += 1;
    }

    fn renamed(&mut self, event: &CourseRenamed) {
        self.name.clone_from(&event.name);
    }
}

/// Whether the student has already joined the course: a boundary of two ids.
#[decision]
#[derive(Clone, Debug)]
struct Enrolment {
    #[boundary]
    course_id: CourseId,
    #[boundary]
    student_id: StudentId,
    joined: bool,
}

#[decision]
impl Enrolment {
    fn joined(&mut self, _: &Joined) {
        self.joined = true;
    }
}

fn join(capacity: &CourseCapacity, student_id: StudentId) -> Result<Joined, Refusal> {
    if !capacity.exists {
        return Err(Refusal::CourseNotFound);
    }
    if capacity.joined >= capacity.places {
        return Err(Refusal::FullyBooked);
    }
    Ok(Joined {
        course_id: capacity.course_id,
        student_id,
    })
}

fn registered(course_id: CourseId, places: u32) -> CourseRegistered {
    CourseRegistered {
        course_id,
        name: "Maths".into(),
        places,
    }
}

#[test]
fn ids_render_as_prefixed_tags_and_round_trip() {
    let course = CourseId::new();
    assert_eq!(CourseId::PREFIX, "course");
    assert_eq!(course.tag().as_str(), format!("course:{}", course.uuid()));
    assert!(course.is_tag(&course.tag()));
    assert!(!CourseId::new().is_tag(&course.tag()));
    assert_eq!(course.to_string().parse::<CourseId>().unwrap(), course);
    let json = serde_json::to_string(&course).unwrap();
    assert_eq!(json, format!("\"{course}\""));
    assert_eq!(serde_json::from_str::<CourseId>(&json).unwrap(), course);

    let room = RoomNumber::new(42);
    assert_eq!(room.tag().as_str(), "room:42");
    assert!(room.is_tag(&room.tag()));
    assert!(!RoomNumber::new(4).is_tag(&room.tag()));
    assert_eq!("42".parse::<RoomNumber>().unwrap(), room);
    let err = "forty-two".parse::<RoomNumber>().unwrap_err();
    assert_eq!(err.id_type, "RoomNumber");
    assert_eq!(err.value, "forty-two");

    let user = Username::new("ada").unwrap();
    assert_eq!(Username::PREFIX, "username");
    assert_eq!(user.tag().as_str(), "username:ada");
    assert_eq!(user.as_str(), "ada");
    assert!(Username::new("").is_err());
    assert!(Username::new("a\nb").is_err());
    assert!(serde_json::from_str::<Username>("\"bad\\u0000\"").is_err());
    assert_eq!(serde_json::from_str::<Username>("\"ada\"").unwrap(), user);
}

#[test]
fn event_tags_come_from_tag_fields() {
    let course_id = CourseId::new();
    let (a, b) = (StudentId::new(), StudentId::new());
    let lecture = LectureScheduled {
        course_id,
        room: Some(RoomNumber::new(7)),
        attendees: vec![a, b],
        lecturer: Username::new("ada").unwrap(),
    };
    let event = lecture.to_event().unwrap();
    assert_eq!(event.event_type(), "LectureScheduled");
    let tags: Vec<&str> = event.tags().iter().map(dcb_core::Tag::as_str).collect();
    let mut expected = vec![
        course_id.tag().as_str().to_owned(),
        "room:7".to_owned(),
        a.tag().as_str().to_owned(),
        b.tag().as_str().to_owned(),
        "lecturer:ada".to_owned(),
    ];
    expected.sort();
    assert_eq!(tags, expected);

    let without = LectureScheduled {
        room: None,
        attendees: vec![],
        ..lecture.clone()
    };
    assert_eq!(without.to_event().unwrap().tags().len(), 2);

    let stored = SequencedEvent::new(Position::new(9).unwrap(), event);
    assert_eq!(LectureScheduled::from_event(&stored).unwrap(), lecture);
}

#[test]
fn event_names_default_to_the_type_and_can_be_overridden() {
    assert_eq!(CourseRegistered::NAME, "CourseRegistered");
    assert_eq!(Joined::NAME, "StudentJoinedCourse");
    assert_eq!(Joined::EVENT_TYPE, "StudentJoinedCourse");
}

#[test]
fn decoding_names_the_type_the_position_and_the_cause() {
    let stored = SequencedEvent::new(
        Position::new(3).unwrap(),
        EventRecord::new(CourseRegistered::EVENT_TYPE, "{\"places\":\"many\"}"),
    );
    let err = CourseRegistered::from_event(&stored).unwrap_err();
    assert_eq!(err.event_type, "CourseRegistered");
    assert_eq!(err.position.get(), 3);
    let message = err.to_string();
    assert!(
        message.contains("CourseRegistered") && message.contains("position 3"),
        "{message}"
    );

    let other = SequencedEvent::new(
        Position::new(4).unwrap(),
        EventRecord::new(CourseRenamed::EVENT_TYPE, "{}"),
    );
    let err = CourseRegistered::from_event(&other).unwrap_err();
    assert_eq!(err.event_type, "CourseRenamed");
}

#[test]
fn a_decision_derives_its_query_from_handlers_and_boundary() {
    let course_id = CourseId::new();
    let query = CourseCapacity::new(course_id).query();
    let [item] = query.items() else {
        panic!("one item expected: {query:?}")
    };
    let mut types: Vec<&str> = item
        .event_types()
        .iter()
        .map(dcb_core::EventType::as_str)
        .collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "CoursePlacesChanged",
            "CourseRegistered",
            "CourseRenamed",
            "StudentJoinedCourse"
        ]
    );
    let tags: Vec<&str> = item
        .required_tags()
        .iter()
        .map(dcb_core::Tag::as_str)
        .collect();
    assert_eq!(tags, [course_id.tag().as_str()]);

    // `#[no_conflict]` keeps the rename out of the condition, and only it.
    let condition = CourseCapacity::new(course_id).condition(&query);
    let [item] = condition.items() else {
        panic!("one item expected: {condition:?}")
    };
    assert!(!item.event_types().contains(&CourseRenamed::EVENT_TYPE));
    assert_eq!(item.event_types().len(), 3);

    let enrolment = Enrolment::new(course_id, StudentId::new()).query();
    assert_eq!(enrolment.items()[0].required_tags().len(), 2);
}

#[test]
fn the_fold_applies_handled_events_of_the_boundary_only() {
    let course_id = CourseId::new();
    let mut state = CourseCapacity::new(course_id);
    let at = |n: u64, event: EventRecord| SequencedEvent::new(Position::new(n).unwrap(), event);
    let mine = at(1, registered(course_id, 5).to_event().unwrap());
    let other_course = at(2, registered(CourseId::new(), 9).to_event().unwrap());
    let unhandled = at(
        3,
        StudentRegistered {
            student_id: StudentId::new(),
            max_courses: 3,
        }
        .to_event()
        .unwrap(),
    );
    assert!(state.selects(&mine));
    assert!(!state.selects(&other_course));
    assert!(!state.selects(&unhandled));
    dcb_core::fold(&mut state, [&mine, &other_course, &unhandled]).unwrap();
    assert!(state.exists);
    assert_eq!(state.places, 5);
}

#[test]
fn decide_appends_under_the_derived_condition() {
    block_on(async {
        let store = InMemoryStore::new();
        let course_id = CourseId::new();
        store
            .append(vec![registered(course_id, 1).to_event().unwrap()], None)
            .await
            .unwrap();
        let first = StudentId::new();
        let position = decide(&store, CourseCapacity::new(course_id), |s| join(s, first))
            .await
            .unwrap();
        assert_eq!(position, Position::new(2));
        let second = decide(&store, CourseCapacity::new(course_id), |s| {
            join(s, StudentId::new())
        })
        .await;
        assert!(matches!(
            second,
            Err(DecideError::Rejected(Refusal::FullyBooked))
        ));
        let unknown = decide(&store, CourseCapacity::new(CourseId::new()), |s| {
            join(s, first)
        })
        .await;
        assert!(matches!(
            unknown,
            Err(DecideError::Rejected(Refusal::CourseNotFound))
        ));
        assert_eq!(store.len(), 2, "refused decisions append nothing");
    });
}

#[test]
fn a_decision_that_decides_nothing_appends_nothing() {
    block_on(async {
        let store = InMemoryStore::new();
        let outcome = decide(&store, CourseCapacity::new(CourseId::new()), |_| {
            Ok::<_, Refusal>(())
        })
        .await;
        assert!(matches!(outcome, Ok(None)));
        assert!(store.is_empty());
    });
}

/// Runs `join` for a course while `meanwhile` is appended between the
/// decision's read and its append, on a store where the course has room.
fn join_racing<P>(
    state: P,
    meanwhile: &EventRecord,
) -> (Result<Option<Position>, DecideError<Refusal>>, usize)
where
    P: Projection,
{
    block_on(async {
        let store = InMemoryStore::new();
        let course_id = meanwhile.tags().iter().next().map(ToString::to_string);
        let course_tag = course_id.expect("the racing event is tagged with its course");
        let course: CourseId = course_tag.trim_start_matches("course:").parse().unwrap();
        store
            .append(vec![registered(course, 5).to_event().unwrap()], None)
            .await
            .unwrap();
        let outcome = decide(&store, state, |_| {
            // The command runs after the read: an append now races the decision.
            store.append_now(vec![meanwhile.clone()], None).unwrap();
            Ok(Joined {
                course_id: course,
                student_id: StudentId::new(),
            })
        })
        .await;
        (outcome, store.len())
    })
}

#[test]
fn a_no_conflict_event_does_not_invalidate_the_decision() {
    // Without `#[no_conflict]` a concurrent rename fails the join…
    let course_id = CourseId::new();
    let rename = CourseRenamed {
        course_id,
        name: "Algebra".into(),
    }
    .to_event()
    .unwrap();
    let (outcome, stored) = join_racing(StrictCourseCapacity::new(course_id), &rename);
    assert!(
        matches!(outcome, Err(DecideError::Conflict { conflicting, .. }) if conflicting.get() == 2)
    );
    assert_eq!(stored, 2, "the conflicting join wrote nothing");

    // …with it, the same race succeeds.
    let course_id = CourseId::new();
    let rename = CourseRenamed {
        course_id,
        name: "Algebra".into(),
    }
    .to_event()
    .unwrap();
    let (outcome, stored) = join_racing(CourseCapacity::new(course_id), &rename);
    assert_eq!(outcome.unwrap(), Position::new(3));
    assert_eq!(stored, 3);

    // A change of places still conflicts under the narrowed condition.
    let course_id = CourseId::new();
    let places = CoursePlacesChanged {
        course_id,
        places: 1,
    }
    .to_event()
    .unwrap();
    let (outcome, _) = join_racing(CourseCapacity::new(course_id), &places);
    assert!(matches!(outcome, Err(DecideError::Conflict { .. })));
}

#[test]
fn the_decider_retries_a_lost_race_with_a_fresh_read() {
    block_on(async {
        let store = InMemoryStore::new();
        let course_id = CourseId::new();
        store
            .append(vec![registered(course_id, 2).to_event().unwrap()], None)
            .await
            .unwrap();
        let attempts = AtomicU32::new(0);
        let decider = Decider::new(&store).retry(Retry::attempts(3));
        let position = decider
            .decide(CourseCapacity::new(course_id), |state| {
                if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                    // Someone else takes a place between read and append.
                    let rival = Joined {
                        course_id,
                        student_id: StudentId::new(),
                    };
                    store
                        .append_now(vec![rival.to_event().unwrap()], None)
                        .unwrap();
                }
                join(state, StudentId::new())
            })
            .await
            .unwrap();
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        assert_eq!(position, Position::new(3));

        // The course is now full: the next decision is refused, not retried.
        attempts.store(0, Ordering::SeqCst);
        let refused = decider
            .decide(CourseCapacity::new(course_id), |state| {
                attempts.fetch_add(1, Ordering::SeqCst);
                join(state, StudentId::new())
            })
            .await;
        assert!(matches!(
            refused,
            Err(DecideError::Rejected(Refusal::FullyBooked))
        ));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn the_decider_gives_up_after_its_attempts() {
    block_on(async {
        let store = InMemoryStore::new();
        let course_id = CourseId::new();
        store
            .append(vec![registered(course_id, 100).to_event().unwrap()], None)
            .await
            .unwrap();
        let decider = Decider::new(&store).retry(Retry::attempts(3).backoff(
            std::time::Duration::from_micros(10),
            std::time::Duration::from_micros(50),
        ));
        let outcome = decider
            .decide(CourseCapacity::new(course_id), |state| {
                let rival = Joined {
                    course_id,
                    student_id: StudentId::new(),
                };
                store
                    .append_now(vec![rival.to_event().unwrap()], None)
                    .unwrap();
                join(state, StudentId::new())
            })
            .await;
        match outcome {
            Err(DecideError::Conflict { attempts, .. }) => assert_eq!(attempts, 3),
            other => panic!("expected a conflict after 3 attempts, got {other:?}"),
        }
    });
}

#[test]
fn store_errors_stay_distinct_from_domain_errors() {
    block_on(async {
        let store = InMemoryStore::with_limits(dcb_core::Limits::default().max_event_size(10));
        let course_id = CourseId::new();
        let outcome = decide(&store, CourseCapacity::new(course_id), |_| {
            Ok::<_, Refusal>(registered(course_id, 5))
        })
        .await;
        match outcome {
            Err(DecideError::Append(dcb_core::AppendError::InvalidInput(_))) => {}
            other => panic!("expected the store's invalid-input error, got {other:?}"),
        }
    });
}

#[test]
fn a_composite_decision_reads_once_and_folds_each_member() {
    block_on(async {
        let store = InMemoryStore::new();
        let course_id = CourseId::new();
        let student_id = StudentId::new();
        let other_course = CourseId::new();
        store
            .append(
                vec![
                    registered(course_id, 5).to_event().unwrap(),
                    registered(other_course, 5).to_event().unwrap(),
                    Joined {
                        course_id: other_course,
                        student_id,
                    }
                    .to_event()
                    .unwrap(),
                ],
                None,
            )
            .await
            .unwrap();
        let composite = (
            CourseCapacity::new(course_id),
            Enrolment::new(course_id, student_id),
        );
        // The enrolment's boundary (its course and student) lies inside the
        // course's, and its one event type is among the course's: the
        // course's item covers it, so the composite reads with the course's
        // query alone. The enrolment still folds the join it selects.
        assert_eq!(composite.query(), CourseCapacity::new(course_id).query());
        let command = |(capacity, enrolment): &(CourseCapacity, Enrolment)| {
            if enrolment.joined {
                return Err(Refusal::AlreadyJoined);
            }
            join(capacity, student_id)
        };
        let position = decide(&store, composite.clone(), command).await.unwrap();
        assert_eq!(position, Position::new(4));
        let again = decide(&store, composite, command).await;
        assert!(matches!(
            again,
            Err(DecideError::Rejected(Refusal::AlreadyJoined))
        ));

        // The join into the other course reached neither member.
        let mut folded = (
            CourseCapacity::new(course_id),
            Enrolment::new(course_id, student_id),
        );
        let all = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .unwrap();
        dcb_core::fold(&mut folded, &all.events[..3]).unwrap();
        assert_eq!(folded.0.joined, 0);
        assert!(!folded.1.joined);
    });
}

#[test]
fn the_test_kit_checks_appended_events_and_errors() {
    let course_id = CourseId::new();
    let student_id = StudentId::new();
    given(registered(course_id, 1))
        .when(CourseCapacity::new(course_id), |s| join(s, student_id))
        .then(Joined {
            course_id,
            student_id,
        });
    given((
        registered(course_id, 1),
        Joined {
            course_id,
            student_id: StudentId::new(),
        },
    ))
    .when(CourseCapacity::new(course_id), |s| join(s, student_id))
    .then_error(&Refusal::FullyBooked);
}

#[test]
fn the_test_kit_rejects_a_given_event_the_decision_cannot_see() {
    let course_id = CourseId::new();
    let unrelated = registered(CourseId::new(), 1);
    let failure = std::panic::catch_unwind(|| {
        given(unrelated)
            .when(CourseCapacity::new(course_id), |s| {
                join(s, StudentId::new())
            })
            .then(());
    })
    .expect_err("a given event outside the boundary must fail the test");
    let message = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("given event 0"), "{message}");
    assert!(message.contains("lacks the boundary tag"), "{message}");
    assert!(message.contains(&course_id.tag().to_string()), "{message}");

    let unhandled = StudentRegistered {
        student_id: StudentId::new(),
        max_courses: 1,
    };
    let failure = std::panic::catch_unwind(|| {
        given(unhandled)
            .when(CourseCapacity::new(course_id), |s| {
                join(s, StudentId::new())
            })
            .then(());
    })
    .expect_err("a given event of an unhandled type must fail the test");
    let message = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("does not handle StudentRegistered"),
        "{message}"
    );
}

#[test]
fn the_test_kit_reports_a_wrong_outcome() {
    let course_id = CourseId::new();
    let wrong_student = std::panic::catch_unwind(|| {
        given(registered(course_id, 1))
            .when(CourseCapacity::new(course_id), |s| {
                join(s, StudentId::new())
            })
            .then(Joined {
                course_id,
                student_id: StudentId::new(),
            });
    });
    assert!(wrong_student.is_err(), "different data must fail `then`");
    let not_refused = std::panic::catch_unwind(|| {
        given(registered(course_id, 1))
            .when(CourseCapacity::new(course_id), |s| {
                join(s, StudentId::new())
            })
            .then_error(&Refusal::FullyBooked);
    });
    assert!(not_refused.is_err(), "a success must fail `then_error`");
}

#[test]
fn the_registry_knows_every_event_and_decodes_to_json() {
    dcb_core::registry::validate().unwrap();
    let registration = dcb_core::registry::find("StudentJoinedCourse").unwrap();
    assert!(
        registration.rust_type.ends_with("::Joined"),
        "{}",
        registration.rust_type
    );
    let course_id = CourseId::new();
    let stored = SequencedEvent::new(
        Position::FIRST,
        registered(course_id, 5).to_event().unwrap(),
    );
    let json = dcb_core::registry::to_json(&stored).unwrap();
    assert_eq!(json["places"], 5);
    assert_eq!(json["course_id"], course_id.to_string());
    let unknown = SequencedEvent::new(
        Position::FIRST,
        EventRecord::new(dcb_core::EventType::from_static("Nobody"), "{}"),
    );
    assert!(dcb_core::registry::to_json(&unknown).is_err());
}

/// The event types a query names, in any item.
fn types_in(query: &Query) -> Vec<&str> {
    query
        .items()
        .iter()
        .flat_map(|item| item.event_types().iter().map(dcb_core::EventType::as_str))
        .collect()
}

#[test]
fn a_composite_condition_keeps_its_members_narrowing() {
    let course_id = CourseId::new();
    let composite = (
        CourseCapacity::new(course_id),
        Enrolment::new(course_id, StudentId::new()),
    );
    let query = composite.query();
    let condition = composite.condition(&query);
    assert!(types_in(&query).contains(&"CourseRenamed"));
    assert!(
        !types_in(&condition).contains(&"CourseRenamed"),
        "{condition:?}"
    );
    // Without a narrowing member, the condition is the query itself.
    let strict = (
        StrictCourseCapacity::new(course_id),
        Enrolment::new(course_id, StudentId::new()),
    );
    let query = strict.query();
    assert_eq!(strict.condition(&query), query);
}
