//! docs/spec.md §3 against both styles of the application, on the in-memory and the
//! embedded store: one scenario body, four runs. Then the races, and the
//! rules beyond the seed that only the DCB style has.

use std::collections::BTreeSet;
use std::sync::Arc;

use coursebooking::aggregates::{self, AggregateEnrolment};
use coursebooking::decisions::{self, DcbEnrolment};
use coursebooking::{CourseId, Enrolment, EnrolmentError, NameProblem, StudentId};
use dcb_core::embedded::EmbeddedStore;
use dcb_core::{AppendError, EventStore, InMemoryStore, KnownState};
use dcb_core::{Prepared, prepare};

/// Makes a decision for "student joins course" without appending it, so a
/// test can let something happen in between.
trait PrepareJoin {
    async fn prepare_join(&self, student: StudentId, course: CourseId) -> Prepared;
}

impl<S: EventStore> PrepareJoin for DcbEnrolment<S> {
    async fn prepare_join(&self, student: StudentId, course: CourseId) -> Prepared {
        prepare(
            self.store(),
            decisions::join_state(student, course),
            decisions::join,
        )
        .await
        .expect("the join is allowed when prepared")
    }
}

impl<S: EventStore> PrepareJoin for AggregateEnrolment<S> {
    async fn prepare_join(&self, student: StudentId, course: CourseId) -> Prepared {
        let state = (
            aggregates::Course::new(course),
            aggregates::Student::new(student),
        );
        prepare(self.store(), state, aggregates::join)
            .await
            .expect("the join is allowed when prepared")
    }
}

async fn scenario<A, S>(app: &A, store: &S)
where
    A: Enrolment + PrepareJoin,
    S: EventStore,
{
    // 1. Courses with 5 places each.
    let mut courses = Vec::new();
    for name in [
        "Dynamic Consistency Boundaries",
        "Maths",
        "Biology",
        "French",
        "Spanish",
    ] {
        courses.push(app.register_course(name, 5).await.unwrap());
    }
    let [dcb, maths, biology, french, spanish] = courses[..] else {
        unreachable!()
    };
    // 2. Students with at most 3 courses each.
    let mut students = Vec::new();
    for name in [
        "Sara",
        "Mollie",
        "Allard",
        "Grace",
        "Bastian",
        "Greg",
        "Katherine",
    ] {
        students.push(app.register_student(name, 3).await.unwrap());
    }
    let [sara, mollie, allard, grace, bastian, greg, katherine] = students[..] else {
        unreachable!()
    };
    // 3. Five students fill the DCB course.
    for student in [sara, mollie, allard, grace, bastian] {
        app.join_course(student, dcb).await.unwrap();
    }
    // 4. Greg finds it fully booked.
    assert_eq!(
        app.join_course(greg, dcb).await,
        Err(EnrolmentError::FullyBooked)
    );
    // 5. Greg joins three courses and may not join a fourth.
    for course in [french, spanish, maths] {
        app.join_course(greg, course).await.unwrap();
    }
    assert_eq!(
        app.join_course(greg, biology).await,
        Err(EnrolmentError::TooManyCourses)
    );
    // 6. Katherine joins French once.
    app.join_course(katherine, french).await.unwrap();
    assert_eq!(
        app.join_course(katherine, french).await,
        Err(EnrolmentError::AlreadyJoined)
    );
    // 7. Unknown course, unknown student.
    assert_eq!(
        app.join_course(grace, CourseId::new()).await,
        Err(EnrolmentError::CourseNotFound)
    );
    assert_eq!(
        app.join_course(StudentId::new(), dcb).await,
        Err(EnrolmentError::StudentNotFound)
    );
    // 8. The lists, in join order.
    assert_eq!(
        app.list_students_for_course(dcb).await.unwrap(),
        ["Sara", "Mollie", "Allard", "Grace", "Bastian"]
    );
    assert_eq!(
        app.list_students_for_course(french).await.unwrap(),
        ["Greg", "Katherine"]
    );
    assert_eq!(
        app.list_courses_for_student(sara).await.unwrap(),
        ["Dynamic Consistency Boundaries"]
    );
    assert_eq!(
        app.list_courses_for_student(greg).await.unwrap(),
        ["French", "Spanish", "Maths"]
    );
    // 9. Sara's join of French is decided before Bastian joins French, and
    // saved after: it conflicts and writes nothing.
    let saras = app.prepare_join(sara, french).await;
    app.join_course(bastian, french).await.unwrap();
    let head = store.head().await.unwrap();
    let err = saras.append(store).await.unwrap_err();
    assert!(
        matches!(err, AppendError::ConditionFailed { .. }),
        "{err:?}"
    );
    assert_eq!(
        store.head().await.unwrap(),
        head,
        "the failed join wrote nothing"
    );
    assert_eq!(
        app.list_students_for_course(french).await.unwrap(),
        ["Greg", "Katherine", "Bastian"]
    );
    assert_eq!(
        app.list_courses_for_student(sara).await.unwrap(),
        ["Dynamic Consistency Boundaries"]
    );
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

#[test]
fn dcb_style_on_the_memory_store() {
    block_on(async {
        let app = DcbEnrolment::new(InMemoryStore::new());
        scenario(&app, app.store()).await;
    });
}

// Issue 28: the scenario decided from known state, where a kept state
// goes stale (another decision, such as Bastian's join in step 9, or a
// refusal's state) and must never decide differently from a fresh read.
#[test]
fn dcb_style_from_known_state() {
    block_on(async {
        let app =
            DcbEnrolment::new(InMemoryStore::new()).with_known_state(KnownState::new(1 << 20));
        scenario(&app, app.store()).await;
    });
    let dir = tempfile::tempdir().unwrap();
    block_on(async {
        let app = DcbEnrolment::new(EmbeddedStore::open(dir.path()).unwrap())
            .with_known_state(KnownState::new(1 << 20));
        scenario(&app, app.store()).await;
    });
}

#[test]
fn aggregate_style_on_the_memory_store() {
    block_on(async {
        let app = AggregateEnrolment::new(InMemoryStore::new());
        scenario(&app, app.store()).await;
    });
}

#[test]
fn dcb_style_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    block_on(async {
        let app = DcbEnrolment::new(EmbeddedStore::open(dir.path()).unwrap());
        scenario(&app, app.store()).await;
    });
}

#[test]
fn aggregate_style_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    block_on(async {
        let app = AggregateEnrolment::new(EmbeddedStore::open(dir.path()).unwrap());
        scenario(&app, app.store()).await;
    });
}

/// 20 tasks race to join a course of 5 places; then one student races to
/// join 20 courses with a limit of 5.
async fn races<A: Enrolment + 'static>(app: Arc<A>) {
    let course = app.register_course("Popular", 5).await.unwrap();
    let mut students = Vec::new();
    for i in 0..20 {
        students.push(
            app.register_student(&format!("Student {i}"), 3)
                .await
                .unwrap(),
        );
    }
    let tasks: Vec<_> = students
        .iter()
        .map(|&student| {
            let app = Arc::clone(&app);
            tokio::spawn(async move { (student, app.join_course(student, course).await) })
        })
        .collect();
    let mut joined = BTreeSet::new();
    for task in tasks {
        match task.await.unwrap() {
            (student, Ok(())) => {
                joined.insert(student);
            }
            (_, Err(err)) => assert_eq!(err, EnrolmentError::FullyBooked),
        }
    }
    assert_eq!(joined.len(), 5, "exactly the places are taken");
    let listed = app.list_students_for_course(course).await.unwrap();
    let expected: BTreeSet<String> = students
        .iter()
        .enumerate()
        .filter(|(_, s)| joined.contains(s))
        .map(|(i, _)| format!("Student {i}"))
        .collect();
    assert_eq!(listed.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(listed.len(), 5);

    let keen = app.register_student("Keen", 5).await.unwrap();
    let mut courses = Vec::new();
    for i in 0..20 {
        courses.push(
            app.register_course(&format!("Course {i}"), 30)
                .await
                .unwrap(),
        );
    }
    let tasks: Vec<_> = courses
        .iter()
        .map(|&course| {
            let app = Arc::clone(&app);
            tokio::spawn(async move { app.join_course(keen, course).await })
        })
        .collect();
    let mut successes = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => successes += 1,
            Err(err) => assert_eq!(err, EnrolmentError::TooManyCourses),
        }
    }
    assert_eq!(successes, 5, "exactly the student's limit is joined");
    assert_eq!(app.list_courses_for_student(keen).await.unwrap().len(), 5);
}

#[test]
fn races_in_the_dcb_style() {
    block_on(races(Arc::new(DcbEnrolment::new(InMemoryStore::new()))));
    let dir = tempfile::tempdir().unwrap();
    block_on(races(Arc::new(DcbEnrolment::new(
        EmbeddedStore::open(dir.path()).unwrap(),
    ))));
}

// Issue 28: 20 processes on one store, each with a known state of its own
// that knows the course with no student in it, race for its 5 places: all
// but the first decide from a stale state, conflict, read and decide again,
// and the course still takes exactly 5.
#[test]
fn processes_with_known_states_of_their_own_race_for_the_places() {
    block_on(async {
        let store = Arc::new(InMemoryStore::new());
        let apps: Vec<_> = (0..20)
            .map(|_| {
                Arc::new(
                    DcbEnrolment::new(Arc::clone(&store))
                        .with_known_state(KnownState::new(1 << 20)),
                )
            })
            .collect();
        let course = apps[0].register_course("Popular", 5).await.unwrap();
        let mut students = Vec::new();
        for (i, app) in apps.iter().enumerate() {
            students.push(app.register_student(&format!("S{i}"), 3).await.unwrap());
            // Each process comes to know the course, before anyone joins.
            assert_eq!(
                app.change_places(course, 0).await,
                Ok(()),
                "no student yet, so 0 places are allowed"
            );
            app.change_places(course, 5).await.unwrap();
        }
        let tasks: Vec<_> = apps
            .iter()
            .zip(&students)
            .map(|(app, &student)| {
                let app = Arc::clone(app);
                tokio::spawn(async move { app.join_course(student, course).await })
            })
            .collect();
        let mut joined = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => joined += 1,
                Err(err) => assert_eq!(err, EnrolmentError::FullyBooked),
            }
        }
        assert_eq!(joined, 5, "exactly the places are taken");
        assert_eq!(
            apps[0]
                .list_students_for_course(course)
                .await
                .unwrap()
                .len(),
            5
        );
    });
}

#[test]
fn races_in_the_aggregate_style() {
    block_on(races(Arc::new(AggregateEnrolment::new(
        InMemoryStore::new(),
    ))));
    let dir = tempfile::tempdir().unwrap();
    block_on(races(Arc::new(AggregateEnrolment::new(
        EmbeddedStore::open(dir.path()).unwrap(),
    ))));
}

#[test]
fn a_rename_does_not_conflict_with_a_join_but_a_change_of_places_does() {
    block_on(async {
        let app = DcbEnrolment::new(InMemoryStore::new());
        let course = app.register_course("Maths", 5).await.unwrap();
        let (ada, bob) = (
            app.register_student("Ada", 3).await.unwrap(),
            app.register_student("Bob", 3).await.unwrap(),
        );

        // A rename of the course and of the student between the join's read
        // and its append: the join still stands.
        let join = app.prepare_join(ada, course).await;
        app.rename_course(course, "Algebra").await.unwrap();
        app.rename_student(ada, "Ada L.").await.unwrap();
        join.append(app.store()).await.unwrap();
        assert_eq!(
            app.list_students_for_course(course).await.unwrap(),
            ["Ada L."]
        );
        assert_eq!(
            app.list_courses_for_student(ada).await.unwrap(),
            ["Algebra"]
        );

        // A change of places in between: the join conflicts and writes nothing.
        let join = app.prepare_join(bob, course).await;
        app.change_places(course, 1).await.unwrap();
        let err = join.append(app.store()).await.unwrap_err();
        assert!(
            matches!(err, AppendError::ConditionFailed { .. }),
            "{err:?}"
        );
        // Decided afresh, the join is refused: the one place is taken.
        assert_eq!(
            app.join_course(bob, course).await,
            Err(EnrolmentError::FullyBooked)
        );
    });
}

#[test]
fn leaving_and_changing_limits() {
    block_on(leaving_and_changing_limits_in(DcbEnrolment::new(
        InMemoryStore::new(),
    )));
}

// Issue 28: from known state, leaving a course leaves the course's kept
// capacity stale (a leave decides on the membership alone): the join
// after it is refused from known state ("already joined"), and the refusal
// is confirmed by a fresh read, which lets the join through.
#[test]
fn leaving_and_changing_limits_from_known_state() {
    block_on(leaving_and_changing_limits_in(
        DcbEnrolment::new(InMemoryStore::new()).with_known_state(KnownState::new(1 << 20)),
    ));
}

async fn leaving_and_changing_limits_in(app: DcbEnrolment<InMemoryStore>) {
    let course = app.register_course("Maths", 1).await.unwrap();
    let (ada, bob) = (
        app.register_student("Ada", 1).await.unwrap(),
        app.register_student("Bob", 1).await.unwrap(),
    );
    assert_eq!(
        app.leave_course(ada, course).await,
        Err(EnrolmentError::NotJoined)
    );
    app.join_course(ada, course).await.unwrap();
    assert_eq!(
        app.join_course(bob, course).await,
        Err(EnrolmentError::FullyBooked)
    );
    assert_eq!(
        app.change_places(course, 0).await,
        Err(EnrolmentError::TooFewPlaces { joined: 1 })
    );
    app.change_places(course, 2).await.unwrap();
    app.join_course(bob, course).await.unwrap();
    app.leave_course(ada, course).await.unwrap();
    assert_eq!(app.list_students_for_course(course).await.unwrap(), ["Bob"]);
    app.join_course(ada, course).await.unwrap();
    assert_eq!(
        app.list_students_for_course(course).await.unwrap(),
        ["Bob", "Ada"]
    );

    let other = app.register_course("Physics", 5).await.unwrap();
    assert_eq!(
        app.join_course(ada, other).await,
        Err(EnrolmentError::TooManyCourses)
    );
    assert_eq!(
        app.change_max_courses(ada, 0).await,
        Err(EnrolmentError::MaxCoursesTooLow { joined: 1 })
    );
    app.change_max_courses(ada, 2).await.unwrap();
    app.join_course(ada, other).await.unwrap();
    assert_eq!(
        app.list_courses_for_student(ada).await.unwrap(),
        ["Maths", "Physics"]
    );
    assert_eq!(
        app.rename_student(StudentId::new(), "X").await,
        Err(EnrolmentError::StudentNotFound)
    );
    assert_eq!(
        app.rename_course(CourseId::new(), "X").await,
        Err(EnrolmentError::CourseNotFound)
    );
    assert!(matches!(
        app.register_course("  ", 3).await,
        Err(EnrolmentError::InvalidName {
            problem: NameProblem::Blank,
            ..
        })
    ));
}

// Issue 21: a name with a right-to-left override or a zero-width space was
// accepted, so a listing could show one name looking like another. The
// rule lives in the domain (`check_name`), so every entry point of both
// styles refuses such a name, and nothing is written.
#[test]
fn every_entry_point_refuses_invisible_characters_in_names() {
    let spoof = "Ada\u{202E}sdrawkcab";
    let refused = |outcome: Result<(), EnrolmentError>| {
        assert_eq!(
            outcome,
            Err(EnrolmentError::InvalidName {
                name: spoof.to_owned(),
                problem: NameProblem::InvisibleCharacter {
                    character: '\u{202E}',
                    position: 4,
                },
            })
        );
    };
    block_on(async {
        let dcb = DcbEnrolment::new(InMemoryStore::new());
        let course = dcb.register_course("Maths", 1).await.unwrap();
        let student = dcb.register_student("Ada", 1).await.unwrap();
        let head = dcb.store().head().await.unwrap();
        refused(dcb.register_course(spoof, 1).await.map(|_| ()));
        refused(dcb.register_student(spoof, 1).await.map(|_| ()));
        refused(dcb.rename_course(course, spoof).await);
        refused(dcb.rename_student(student, spoof).await);
        assert_eq!(dcb.store().head().await.unwrap(), head, "nothing written");

        let aggregates = AggregateEnrolment::new(InMemoryStore::new());
        refused(aggregates.register_course(spoof, 1).await.map(|_| ()));
        refused(aggregates.register_student(spoof, 1).await.map(|_| ()));
        assert_eq!(aggregates.store().head().await.unwrap(), None);

        let zero_width = dcb.register_student("A\u{200B}da", 1).await;
        assert!(
            zero_width.as_ref().is_err_and(|err| err
                .to_string()
                .contains("character 2 is U+200B, a zero-width character")),
            "{zero_width:?}"
        );
    });
}
