// Every kind of id and of tag field, a pinned event name, and
// `#[no_conflict]`, with what each of them produces.

use dcb_core::{
    Event, HasTag, Id, Identifier, Projection, Query, QueryItem, decision,
};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[id(prefix = "room")]
struct RoomNumber(u64);

#[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
struct TeacherCode(String);

#[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
#[event(name = "LessonScheduled.v2")]
struct LessonScheduled {
    #[tag]
    course_id: CourseId,
    #[tag(prefix = "previous_course")]
    replaces: CourseId,
    #[tag]
    room: Option<RoomNumber>,
    #[tag]
    teachers: Vec<TeacherCode>,
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
struct CourseRenamed {
    #[tag]
    course_id: CourseId,
    title: String,
}

#[decision]
struct Timetable {
    #[boundary]
    course_id: CourseId,
    lessons: u32,
    title: String,
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
}

fn carries<I, E: HasTag<I>>() {}

fn main() {
    assert_eq!(CourseId::PREFIX, "course");
    assert_eq!(RoomNumber::PREFIX, "room");
    assert_eq!(TeacherCode::PREFIX, "teacher_code");

    let room = RoomNumber::new(7);
    assert_eq!(room.get(), 7);
    assert_eq!(room.tag().as_str(), "room:7");
    assert_eq!("7".parse::<RoomNumber>(), Ok(room));

    let ada = TeacherCode::new("ada").unwrap();
    assert_eq!(ada.as_str(), "ada");
    assert!(TeacherCode::new("").is_err());

    let course_id = CourseId::new();
    let replaces = CourseId::new();
    assert_eq!(course_id.uuid().to_string(), course_id.to_string());

    let lesson = LessonScheduled {
        course_id,
        replaces,
        room: Some(room),
        teachers: vec![ada.clone(), TeacherCode::new("alan").unwrap()],
    };
    let event = lesson.to_event().unwrap();
    assert_eq!(event.event_type(), "LessonScheduled.v2");
    assert_eq!(LessonScheduled::NAME, "LessonScheduled.v2");
    let mut tags: Vec<&str> = event.tags().iter().map(|t| t.as_str()).collect();
    tags.sort_unstable();
    let (course, previous) = (
        format!("course:{course_id}"),
        format!("previous_course:{replaces}"),
    );
    let mut expected = vec![
        course.as_str(),
        previous.as_str(),
        "room:7",
        "teacher_code:ada",
        "teacher_code:alan",
    ];
    expected.sort_unstable();
    assert_eq!(tags, expected);
    assert_eq!(LessonScheduled::decode(event.data()).unwrap(), lesson);

    let online = LessonScheduled {
        course_id,
        replaces,
        room: None,
        teachers: vec![],
    };
    assert_eq!(online.tags().len(), 2);

    // Only the plain `#[tag]` field promises a tag on every event.
    carries::<CourseId, LessonScheduled>();

    let state = Timetable::new(course_id);
    let query = state.query();
    let all = [LessonScheduled::EVENT_TYPE, CourseRenamed::EVENT_TYPE];
    assert_eq!(
        query,
        Query::from(QueryItem::new().types(all).tags([course_id.tag()]))
    );
    assert_eq!(
        state.condition(&query),
        Query::from(
            QueryItem::new()
                .types([LessonScheduled::EVENT_TYPE])
                .tags([course_id.tag()])
        ),
    );
}
