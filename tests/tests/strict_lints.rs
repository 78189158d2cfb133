//! The code the macros generate compiles clean under strict lints: every
//! kind of id, every kind of tag field and a decision with `#[no_conflict]`,
//! declared as public items of a crate that denies pedantic clippy lints,
//! missing docs and needless path qualifications. `cargo clippy
//! --all-targets` lints this file; the tests check that the items work.
#![deny(clippy::pedantic, missing_docs, unused_qualifications)]

pub mod school {
    //! A school's ids, events and one decision. The traits the generated
    //! code names by absolute path are imported here, so that a path it
    //! could have written shorter would be reported.

    use dcb_core::{
        Boundary, Event, HasTag, HasTags, Id, Identifier, IntoEvents, Projection, TagField, Uuid,
        decision, upcast,
    };
    use serde::{Deserialize, Serialize};
    use serde_json::{Value, json};

    /// A course.
    #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub struct CourseId(Uuid);

    /// A room, by its number on the door.
    #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
    #[id(prefix = "room")]
    pub struct RoomNumber(u64);

    /// A teacher, by the school's short code.
    #[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
    pub struct TeacherCode(String);

    /// A lesson was put in the timetable.
    #[derive(Event, Serialize, Deserialize, Clone, PartialEq, Debug)]
    #[event(name = "LessonScheduled.v2")]
    pub struct LessonScheduled {
        /// The course the lesson belongs to.
        #[tag]
        pub course_id: CourseId,
        /// The course whose lesson this one replaces.
        #[tag(prefix = "previous_course")]
        pub replaces: CourseId,
        /// Where, unless online.
        #[tag]
        pub room: Option<RoomNumber>,
        /// Who teaches it.
        #[tag]
        pub teachers: Vec<TeacherCode>,
    }

    /// A course has a new title.
    #[derive(Event, Serialize, Deserialize, Clone, PartialEq, Debug)]
    pub struct CourseRenamed {
        /// The course.
        #[tag]
        pub course_id: CourseId,
        /// Its new title.
        pub title: String,
    }

    /// A course's fee. Version 2 added the currency; version 3 counts in
    /// cents.
    #[derive(Event, Serialize, Deserialize, Clone, PartialEq, Debug)]
    #[event(version = 3)]
    #[serde(deny_unknown_fields)]
    pub struct FeeSet {
        /// The course.
        #[tag]
        pub course_id: CourseId,
        /// The fee, in cents.
        pub cents: u64,
        /// Its currency, ISO 4217.
        pub currency: String,
    }

    /// Version 1 was in euros.
    #[upcast(FeeSet, from = 1)]
    fn fee_in_euros(mut data: Value) -> Value {
        data["currency"] = json!("EUR");
        data
    }

    /// Version 2 counted whole units.
    #[upcast(FeeSet, from = 2)]
    fn fee_in_cents(data: Value) -> Result<Value, String> {
        let units = data["amount"].as_u64().ok_or("no `amount`")?;
        Ok(json!({
            "course_id": data["course_id"],
            "cents": units * 100,
            "currency": data["currency"],
        }))
    }

    /// A tuple-struct event, tagged by position.
    #[derive(Event, Serialize, Deserialize, Clone, PartialEq, Debug)]
    pub struct CourseClosed(#[tag] pub CourseId);

    /// Courses merged into one: tags of one kind, from three fields of one
    /// id type.
    #[derive(Event, Serialize, Deserialize, Clone, PartialEq, Debug)]
    pub struct CoursesMerged {
        /// The course that remains.
        #[tag]
        pub course_id: CourseId,
        /// The course merged into it.
        #[tag]
        pub merged: CourseId,
        /// Others merged with it.
        #[tag]
        pub others: Vec<CourseId>,
        /// Where the merged course is taught.
        #[tag]
        pub room: RoomNumber,
    }

    /// What closing a course comes to.
    #[derive(IntoEvents)]
    pub enum Closing {
        /// Closed.
        Closed(CourseClosed),
        /// Closed, merged into another.
        Merged((CourseClosed, CoursesMerged)),
        /// Closed already.
        Already(()),
    }

    /// How many lessons a course has, and its title.
    #[decision]
    #[derive(Clone, Debug)]
    pub struct Timetable {
        /// The course.
        #[boundary]
        pub course_id: CourseId,
        /// The lessons scheduled.
        pub lessons: u32,
        /// The current title.
        pub title: String,
        /// Whether the course closed.
        pub closed: bool,
    }

    #[decision]
    impl Timetable {
        fn scheduled(&mut self, _: &LessonScheduled) {
            self.lessons += 1;
        }

        #[no_conflict]
        fn renamed(&mut self, event: &CourseRenamed) {
            self.title.clone_from(&event.title);
        }

        fn closed(&mut self, _: &CourseClosed) {
            self.closed = true;
        }
    }

    /// Whether `E` carries a tag of `I` on every event.
    #[must_use]
    pub fn carries<I, E: HasTag<I>>() -> bool {
        true
    }

    /// Whether `E` can be handled by a decision with the boundary `P`.
    #[must_use]
    pub fn handled_by<P: Boundary, E: HasTags<P::Ids>>() -> bool {
        true
    }

    /// The tags of a tag field, through [`TagField`].
    pub fn field_tags<F: TagField>(field: &F) -> Vec<String> {
        let mut tags = Vec::new();
        field.for_each_id(|id| tags.push(id.tag().to_string()));
        tags
    }

    /// The events of an outcome, through [`IntoEvents`].
    ///
    /// # Errors
    ///
    /// If an event cannot be encoded.
    pub fn events_of(
        outcome: impl IntoEvents,
    ) -> Result<Vec<dcb_core::EventRecord>, dcb_core::EncodeError> {
        let mut out = Vec::new();
        outcome.into_events(&mut out)?;
        Ok(out)
    }

    /// The type name of an event, through [`Event`].
    #[must_use]
    pub fn name_of<E: Event>() -> &'static str {
        E::NAME
    }

    /// The query of a projection, through [`Projection`].
    pub fn query_of<P: Projection>(projection: &P) -> dcb_core::Query {
        projection.query()
    }
}

use dcb_core::testkit::given;
use dcb_core::{Event, Identifier, Projection};
use school::{
    Closing, CourseClosed, CourseId, CourseRenamed, CoursesMerged, FeeSet, LessonScheduled,
    RoomNumber, TeacherCode, Timetable,
};

#[test]
fn the_strictly_linted_items_work() {
    let course_id = CourseId::new();
    let room = RoomNumber::new(12);
    let ada = TeacherCode::new("ada").expect("a valid code");
    let lesson = LessonScheduled {
        course_id,
        replaces: CourseId::new(),
        room: Some(room),
        teachers: vec![ada.clone()],
    };
    assert_eq!(school::name_of::<LessonScheduled>(), "LessonScheduled.v2");
    assert_eq!(school::field_tags(&Some(room)), ["room:12"]);
    assert_eq!(school::field_tags(&vec![ada]), ["teacher_code:ada"]);
    assert!(school::carries::<CourseId, CourseClosed>());
    assert!(school::handled_by::<Timetable, LessonScheduled>());
    assert!(school::carries::<CourseId, CoursesMerged>());
    let merged = CoursesMerged {
        course_id,
        merged: CourseId::new(),
        others: vec![CourseId::new()],
        room,
    };
    assert_eq!(merged.tags().len(), 4);
    assert!(school::events_of(Closing::Already(())).unwrap().is_empty());
    let closed = school::events_of(Closing::Merged((CourseClosed(course_id), merged)));
    assert_eq!(closed.unwrap().len(), 2);

    let timetable = Timetable::new(course_id);
    assert_eq!(school::query_of(&timetable), timetable.query());
    assert_ne!(timetable.condition(&timetable.query()), timetable.query());
    assert_eq!(
        course_id.tag().as_str(),
        format!("course:{}", course_id.uuid())
    );

    let close = |state: &Timetable| {
        if state.closed {
            Err("closed already")
        } else {
            Ok(CourseClosed(state.course_id))
        }
    };
    let renamed = CourseRenamed {
        course_id,
        title: "Latin".into(),
    };
    given((lesson, renamed))
        .when(Timetable::new(course_id), close)
        .then(CourseClosed(course_id));
    given(CourseClosed(course_id))
        .when(Timetable::new(course_id), close)
        .then_error(&"closed already");
}

#[test]
fn the_strictly_linted_versioned_event_upcasts() {
    dcb_core::registry::validate().unwrap();
    let course_id = CourseId::new();
    let stored_at_1 = format!(r#"{{"course_id":"{course_id}","amount":90}}"#);
    let fee = FeeSet {
        course_id,
        cents: 9000,
        currency: "EUR".into(),
    };
    assert_eq!(FeeSet::decode(stored_at_1.as_bytes()).unwrap(), fee);
    assert_eq!(FeeSet::decode(&fee.encode().unwrap()).unwrap(), fee);
}
