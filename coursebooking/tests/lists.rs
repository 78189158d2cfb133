//! The lists served from the `CourseLists` read model: kept up to date by
//! a subscription, in agreement with the decisions, and resumed from their
//! saved checkpoint.

use coursebooking::decisions::DcbEnrolment;
use coursebooking::lists::CourseLists;
use coursebooking::{CourseId, Enrolment, StudentId};
use dcb_core::embedded::EmbeddedStore;
use dcb_core::read_model::{MemoryStorage, Runner};
use dcb_core::{EventStore, InMemoryStore, Position};

async fn head<S: EventStore>(store: &S) -> Position {
    store
        .head()
        .await
        .expect("read the head")
        .expect("the store holds events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_appears_in_the_lists_once_the_subscription_has_caught_up() {
    let store = InMemoryStore::new();
    let mut runner = Runner::<_, CourseLists, _>::start(store.clone(), MemoryStorage::new())
        .await
        .expect("start the runner");
    let mut lists = runner.handle();
    let running = tokio::spawn(async move { runner.run().await });

    let app = DcbEnrolment::new(store.clone());
    let french = app.register_course("French", 3).await.expect("register");
    let sara = app.register_student("Sara", 2).await.expect("register");
    let greg = app.register_student("Greg", 2).await.expect("register");
    app.join_course(sara, french).await.expect("Sara joins");
    app.join_course(greg, french).await.expect("Greg joins");

    lists
        .wait_for(head(&store).await)
        .await
        .expect("the runner runs");
    assert_eq!(lists.read().await.students_of(french), ["Sara", "Greg"]);
    assert_eq!(lists.read().await.courses_of(sara), ["French"]);

    app.leave_course(sara, french).await.expect("Sara leaves");
    app.rename_student(greg, "Gregory").await.expect("rename");
    app.rename_course(french, "French B1")
        .await
        .expect("rename");
    lists
        .wait_for(head(&store).await)
        .await
        .expect("the runner runs");
    assert_eq!(lists.read().await.students_of(french), ["Gregory"]);
    assert_eq!(lists.read().await.courses_of(sara), Vec::<String>::new());
    assert_eq!(lists.read().await.courses_of(greg), ["French B1"]);

    running.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_model_agrees_with_the_decisions() {
    let store = InMemoryStore::new();
    let app = DcbEnrolment::new(store.clone());
    let mut courses: Vec<CourseId> = Vec::new();
    let mut students: Vec<StudentId> = Vec::new();
    for i in 0..4 {
        courses.push(
            app.register_course(&format!("course {i}"), 3)
                .await
                .expect("register"),
        );
    }
    for i in 0..6 {
        students.push(
            app.register_student(&format!("student {i}"), 2)
                .await
                .expect("register"),
        );
    }
    // Joins, some refused (full courses, busy students), and some leaves.
    for (n, student) in students.iter().enumerate() {
        for course in courses.iter().cycle().skip(n).take(3) {
            let _ = app.join_course(*student, *course).await;
        }
        if n % 2 == 0 {
            let _ = app.leave_course(*student, courses[n % courses.len()]).await;
        }
    }

    let mut runner = Runner::<_, CourseLists, _>::start(store.clone(), MemoryStorage::new())
        .await
        .expect("start the runner");
    runner.catch_up().await.expect("catch up");
    let handle = runner.handle();
    let lists = handle.read().await;
    for course in &courses {
        assert_eq!(
            lists.students_of(*course),
            app.list_students_for_course(*course).await.expect("list"),
            "students of {course}"
        );
    }
    for student in &students {
        assert_eq!(
            lists.courses_of(*student),
            app.list_courses_for_student(*student).await.expect("list"),
            "courses of {student}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_lists_resume_from_their_checkpoint() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = EmbeddedStore::open(dir.path()).expect("open the store");
    let app = DcbEnrolment::new(store.clone());
    let french = app.register_course("French", 3).await.expect("register");
    let sara = app.register_student("Sara", 2).await.expect("register");
    app.join_course(sara, french).await.expect("Sara joins");

    let mut runner =
        Runner::<_, CourseLists, _>::start(store.clone(), CourseLists::file(dir.path()))
            .await
            .expect("start");
    assert_eq!(
        runner.catch_up().await.expect("catch up"),
        Some(head(&store).await)
    );
    drop(runner);

    let greg = app.register_student("Greg", 2).await.expect("register");
    app.join_course(greg, french).await.expect("Greg joins");
    let mut runner =
        Runner::<_, CourseLists, _>::start(store.clone(), CourseLists::file(dir.path()))
            .await
            .expect("start again");
    let handle = runner.handle();
    assert_eq!(
        handle.read().await.students_of(french),
        ["Sara"],
        "started again, the runner has the saved lists"
    );
    runner.catch_up().await.expect("catch up");
    assert_eq!(handle.read().await.students_of(french), ["Sara", "Greg"]);
    assert_eq!(
        runner.saved(),
        Some(head(&store).await),
        "caught up, the lists are saved"
    );
    store.close();
}
