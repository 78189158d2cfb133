//! Course subscriptions: one event tagged by two ids, two limits checked in
//! one decision.
//!
//! A student subscribes to a course. The rule: a course takes no more
//! students than its capacity, which may change, and a student takes at most
//! three courses (and not one course twice).
//!
//! The subscription is one event, `StudentSubscribedToCourse`, tagged with
//! the course *and* the student: the course counts it against its capacity,
//! the student against their limit. The decision is a composite of two,
//! `(Course, Student)`, each with its own boundary. It reads the union of
//! their events — every subscription to the course, every subscription of
//! the student — and appends under the union of their conditions, so a
//! subscription to the course by anyone, or of the student to any course,
//! appended after the read fails the append (and `Decider` reads again).
//! One decision with both ids as `#[boundary]` would be wrong: it reads the
//! events that carry *both* tags, this student's subscriptions to this
//! course only, and counts neither limit. The members stand alone too:
//! `Course` decides a course's definition and its capacity's changes.
//!
//! Run it with `cargo run -p dcb-core --example course_subscriptions`; its
//! tests, races included, with `cargo test -p dcb-core --example
//! course_subscriptions`.

use dcb_core::embedded::EmbeddedStore;
use dcb_core::{DecideError, Event, Id, decide, decision};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct StudentId(dcb_core::Uuid);

/// The most courses a student takes.
const MAX_COURSES: usize = 3;

#[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
struct CourseDefined {
    #[tag]
    course_id: CourseId,
    capacity: u32,
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
struct CourseCapacityChanged {
    #[tag]
    course_id: CourseId,
    capacity: u32,
}

/// Tagged with both ids, so that the course and the student both count it.
#[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
struct StudentSubscribedToCourse {
    #[tag]
    course_id: CourseId,
    #[tag]
    student_id: StudentId,
}

/// A course's capacity (`None` until it is defined) and its subscriptions.
#[decision]
#[derive(Clone)]
struct Course {
    #[boundary]
    id: CourseId,
    capacity: Option<u32>,
    subscriptions: u32,
}

#[decision]
impl Course {
    fn defined(&mut self, event: &CourseDefined) {
        self.capacity = Some(event.capacity);
    }

    fn capacity_changed(&mut self, event: &CourseCapacityChanged) {
        self.capacity = Some(event.capacity);
    }

    fn subscribed(&mut self, _: &StudentSubscribedToCourse) {
        self.subscriptions += 1;
    }
}

/// The courses a student has subscribed to.
#[decision]
#[derive(Clone)]
struct Student {
    #[boundary]
    id: StudentId,
    courses: Vec<CourseId>,
}

#[decision]
impl Student {
    fn subscribed(&mut self, event: &StudentSubscribedToCourse) {
        self.courses.push(event.course_id);
    }
}

/// The one decision a subscription is: the course and the student.
fn subscription(course_id: CourseId, student_id: StudentId) -> (Course, Student) {
    (Course::new(course_id), Student::new(student_id))
}

fn subscribe(
    (course, student): &(Course, Student),
) -> Result<StudentSubscribedToCourse, &'static str> {
    let capacity = course.capacity.ok_or("no such course")?;
    if student.courses.contains(&course.id) {
        return Err("already subscribed");
    }
    if course.subscriptions >= capacity {
        return Err("the course is full");
    }
    if student.courses.len() >= MAX_COURSES {
        return Err("the student takes three courses already");
    }
    Ok(StudentSubscribedToCourse {
        course_id: course.id,
        student_id: student.id,
    })
}

fn define(course: &Course, capacity: u32) -> Result<CourseDefined, &'static str> {
    match course.capacity {
        Some(_) => Err("the course is defined already"),
        None => Ok(CourseDefined {
            course_id: course.id,
            capacity,
        }),
    }
}

fn change_capacity(course: &Course, capacity: u32) -> Result<CourseCapacityChanged, &'static str> {
    course.capacity.ok_or("no such course")?;
    Ok(CourseCapacityChanged {
        course_id: course.id,
        capacity,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = EmbeddedStore::open(dir.path())?;
    let courses = ["Rust", "Prolog", "Lisp", "Forth"].map(|name| (name, CourseId::new()));
    for (name, course_id) in courses {
        decide(&store, Course::new(course_id), |course| define(course, 1)).await?;
        println!("{name} is defined with 1 place");
    }
    let [rust, prolog, lisp, forth] = courses;
    let (ada, alan) = (("Ada", StudentId::new()), ("Alan", StudentId::new()));
    let attempts = [
        (ada, rust),
        (alan, rust),
        (ada, prolog),
        (ada, lisp),
        (ada, forth),
    ];
    for (student, course) in attempts {
        try_subscribe(&store, student, course).await?;
    }
    decide(&store, Course::new(rust.1), |c| change_capacity(c, 2)).await?;
    println!("Rust now has 2 places");
    try_subscribe(&store, alan, rust).await?;
    Ok(())
}

/// Subscribes a student to a course and says what came of it.
async fn try_subscribe(
    store: &EmbeddedStore,
    (student, student_id): (&str, StudentId),
    (course, course_id): (&str, CourseId),
) -> Result<(), DecideError<&'static str>> {
    match decide(store, subscription(course_id, student_id), subscribe).await {
        Ok(_) => println!("{student} subscribes to {course}"),
        Err(DecideError::Rejected(why)) => println!("{student} cannot join {course}: {why}"),
        Err(other) => return Err(other),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use dcb_core::testkit::given;
    use dcb_core::{Decider, Position, Retry, load};

    use super::*;

    fn defined(course_id: CourseId, capacity: u32) -> CourseDefined {
        CourseDefined {
            course_id,
            capacity,
        }
    }

    fn subscribed(course_id: CourseId, student_id: StudentId) -> StudentSubscribedToCourse {
        StudentSubscribedToCourse {
            course_id,
            student_id,
        }
    }

    #[test]
    fn a_student_subscribes_to_a_course_with_a_free_place() {
        let (course, ada, alan) = (CourseId::new(), StudentId::new(), StudentId::new());
        given((defined(course, 2), subscribed(course, alan)))
            .when(subscription(course, ada), subscribe)
            .then(subscribed(course, ada));
    }

    #[test]
    fn a_full_course_is_refused() {
        let (course, ada, alan) = (CourseId::new(), StudentId::new(), StudentId::new());
        given((defined(course, 1), subscribed(course, alan)))
            .when(subscription(course, ada), subscribe)
            .then_error(&"the course is full");
    }

    #[test]
    fn the_capacity_counts_as_last_changed() {
        let (course, ada, alan) = (CourseId::new(), StudentId::new(), StudentId::new());
        let changed = |capacity| CourseCapacityChanged {
            course_id: course,
            capacity,
        };
        given((defined(course, 1), subscribed(course, alan), changed(2)))
            .when(subscription(course, ada), subscribe)
            .then(subscribed(course, ada));
        given((defined(course, 2), subscribed(course, alan), changed(1)))
            .when(subscription(course, ada), subscribe)
            .then_error(&"the course is full");
    }

    #[test]
    fn a_course_never_defined_is_refused() {
        given(())
            .when(subscription(CourseId::new(), StudentId::new()), subscribe)
            .then_error(&"no such course");
    }

    #[test]
    fn a_student_subscribes_to_a_course_once() {
        let (course, ada) = (CourseId::new(), StudentId::new());
        given((defined(course, 5), subscribed(course, ada)))
            .when(subscription(course, ada), subscribe)
            .then_error(&"already subscribed");
    }

    #[test]
    fn a_student_with_three_courses_is_refused_a_fourth() {
        let (course, ada) = (CourseId::new(), StudentId::new());
        let others = [(); MAX_COURSES].map(|()| subscribed(CourseId::new(), ada));
        given(defined(course, 5))
            .and(Vec::from(others))
            .when(subscription(course, ada), subscribe)
            .then_error(&"the student takes three courses already");
    }

    #[test]
    fn other_courses_and_students_are_ignored() {
        let (course, other, ada, alan) = (
            CourseId::new(),
            CourseId::new(),
            StudentId::new(),
            StudentId::new(),
        );
        given(defined(course, 1))
            .unseen((defined(other, 1), subscribed(other, alan)))
            .when(subscription(course, ada), subscribe)
            .then(subscribed(course, ada));
    }

    /// Runs the subscriptions concurrently on an embedded store, each with
    /// retries, and returns their outcomes in order.
    async fn race(
        store: &EmbeddedStore,
        subscriptions: Vec<(CourseId, StudentId)>,
    ) -> Vec<Result<Option<Position>, DecideError<&'static str>>> {
        let tasks: Vec<_> = subscriptions
            .into_iter()
            .map(|(course_id, student_id)| {
                let store = store.clone();
                tokio::spawn(async move {
                    Decider::new(&store)
                        .retry(Retry::attempts(50))
                        .decide(subscription(course_id, student_id), subscribe)
                        .await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.expect("the task runs to its end"));
        }
        outcomes
    }

    fn refusals(outcomes: Vec<Result<Option<Position>, DecideError<&str>>>) -> Vec<&str> {
        outcomes
            .into_iter()
            .filter_map(|outcome| outcome.err().map(|err| err.rejected().expect("a refusal")))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sixteen_students_race_for_five_places_and_five_win() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let course_id = CourseId::new();
        decide(&store, Course::new(course_id), |course| define(course, 5))
            .await
            .unwrap();
        let students = (0..16).map(|_| (course_id, StudentId::new())).collect();
        let outcomes = race(&store, students).await;
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 5);
        assert_eq!(refusals(outcomes), ["the course is full"; 11]);
        let course = load(&store, Course::new(course_id)).await.unwrap();
        assert_eq!(course.subscriptions, 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_student_racing_into_six_courses_ends_in_three() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let (courses, ada) = ([(); 6].map(|()| CourseId::new()), StudentId::new());
        for course_id in courses {
            decide(&store, Course::new(course_id), |course| define(course, 10))
                .await
                .unwrap();
        }
        let outcomes = race(&store, courses.map(|course| (course, ada)).into()).await;
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), MAX_COURSES);
        assert_eq!(
            refusals(outcomes),
            ["the student takes three courses already"; 3]
        );
        let student = load(&store, Student::new(ada)).await.unwrap();
        assert_eq!(student.courses.len(), MAX_COURSES);
    }
}
