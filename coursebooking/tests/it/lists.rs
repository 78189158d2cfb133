//! The lists served from the `CourseLists` read model: kept up to date by
//! a subscription, in agreement with the decisions, and resumed from their
//! saved checkpoint — and rebuilt when the store no longer holds the
//! events they were saved after.

use std::path::Path;

use coursebooking::decisions::DcbEnrolment;
use coursebooking::lists::CourseLists;
use coursebooking::{CourseId, Enrolment, StudentId};
use dcb_core::embedded::EmbeddedStore;
use dcb_core::read_model::{MemoryStorage, Mismatch, Runner};
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

/// Copies the store's files in `from` (everything but the saved read
/// models) into `to`, replacing the store there.
fn copy_store(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(to).expect("list the store") {
        let entry = entry.expect("an entry");
        if entry.file_name() != "read-models" {
            let path = entry.path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path).expect("remove");
            } else {
                std::fs::remove_file(&path).expect("remove");
            }
        }
    }
    for entry in std::fs::read_dir(from).expect("list the copy") {
        let entry = entry.expect("an entry");
        if entry.file_name() != "read-models" {
            copy_path(&entry.path(), &to.join(entry.file_name()));
        }
    }
}

/// Copies the file or the folder (with what it holds, as the store's
/// index) at `from` to `to`.
fn copy_path(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("make a folder");
        for entry in std::fs::read_dir(from).expect("list a folder") {
            let entry = entry.expect("an entry");
            copy_path(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).expect("copy");
    }
}

/// French, Sara, Greg and Sara's join in a store in `dir` (events 1 to
/// 4), copied to `backup` as they stand; then Greg and Ann join (events 5
/// to 7) and the lists are saved at 7; then the copy is restored. Returns
/// the restored store and French.
async fn restored_after_saving_lists(dir: &Path, backup: &Path) -> (EmbeddedStore, CourseId) {
    let store = EmbeddedStore::open(dir).expect("open the store");
    let app = DcbEnrolment::new(store.clone());
    let french = app.register_course("French", 3).await.expect("register");
    let sara = app.register_student("Sara", 2).await.expect("register");
    let greg = app.register_student("Greg", 2).await.expect("register");
    app.join_course(sara, french).await.expect("Sara joins");
    drop(app);
    store.close();
    copy_store(dir, backup);

    let store = EmbeddedStore::open(dir).expect("open the store");
    let app = DcbEnrolment::new(store.clone());
    app.join_course(greg, french).await.expect("Greg joins");
    let ann = app.register_student("Ann", 2).await.expect("register");
    app.join_course(ann, french).await.expect("Ann joins");
    let mut runner = CourseLists::start_runner(store.clone(), CourseLists::file(dir))
        .await
        .expect("start");
    runner.catch_up().await.expect("catch up");
    assert_eq!(runner.saved().map(Position::get), Some(7));
    assert_eq!(
        runner.handle().read().await.students_of(french),
        ["Sara", "Greg", "Ann"]
    );
    drop((runner, app));
    store.close();

    copy_store(backup, dir);
    let store = EmbeddedStore::open(dir).expect("open the restored store");
    assert_eq!(
        store.head().await.expect("head").map(Position::get),
        Some(4)
    );
    (store, french)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_ahead_of_a_restored_store_are_rebuilt() {
    // The bug: lists saved at position 7, then the store restored from a
    // copy with 4 events and written to: `students` listed Greg and Ann,
    // who are not in the log, and never showed Dee, who joined since. The
    // fix: a start that finds the checkpoint beyond the store's head
    // rebuilds the lists from the log, and says so.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let backup = tempfile::tempdir().expect("a temporary directory");
    let (store, french) = restored_after_saving_lists(dir.path(), backup.path()).await;
    let app = DcbEnrolment::new(store.clone());
    let dee = app.register_student("Dee", 2).await.expect("register");
    app.join_course(dee, french).await.expect("Dee joins");

    let mut runner = CourseLists::start_runner(store.clone(), CourseLists::file(dir.path()))
        .await
        .expect("start");
    runner.catch_up().await.expect("catch up");
    assert_eq!(
        runner.handle().read().await.students_of(french),
        ["Sara", "Dee"],
        "the students in the log"
    );
    let rebuilt = runner.rebuilt().expect("the lists were rebuilt").clone();
    assert_eq!(
        rebuilt,
        Mismatch::AheadOfStore {
            checkpoint: Position::new(7).expect("not zero"),
            head: Position::new(6),
        }
    );
    assert_eq!(
        CourseLists::rebuilt_notice(&rebuilt),
        "the read model course-lists did not match the store: \
         its checkpoint 7 is beyond the store's head 6; rebuilt it from the log"
    );
    drop(runner);

    let runner = CourseLists::start_runner(store.clone(), CourseLists::file(dir.path()))
        .await
        .expect("start again");
    assert_eq!(runner.rebuilt(), None, "rebuilt once");
    drop((runner, app));
    store.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_built_from_events_a_restored_store_lacks_are_rebuilt() {
    // As above, but written to up to the old checkpoint: the head is the
    // checkpoint again, and the event there another one.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let backup = tempfile::tempdir().expect("a temporary directory");
    let (store, french) = restored_after_saving_lists(dir.path(), backup.path()).await;
    let app = DcbEnrolment::new(store.clone());
    let dee = app.register_student("Dee", 2).await.expect("register");
    app.join_course(dee, french).await.expect("Dee joins");
    app.register_student("Bo", 2).await.expect("register");
    assert_eq!(head(&store).await.get(), 7);

    let mut runner = CourseLists::start_runner(store.clone(), CourseLists::file(dir.path()))
        .await
        .expect("start");
    runner.catch_up().await.expect("catch up");
    assert_eq!(
        runner.handle().read().await.students_of(french),
        ["Sara", "Dee"],
        "the students in the log"
    );
    assert!(
        matches!(runner.rebuilt(), Some(Mismatch::OtherEvent { checkpoint, .. }) if checkpoint.get() == 7),
        "{:?}",
        runner.rebuilt()
    );
    drop((runner, app));
    store.close();
}
