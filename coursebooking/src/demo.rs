//! `coursebooking demo`: SPEC §3 on a fresh embedded store, step by step.

use std::process::ExitCode;

use coursebooking::decisions::{self, DcbEnrolment};
use coursebooking::{CourseId, Enrolment, EnrolmentError, StudentId};
use dcb_core::EventStore;
use dcb_core::decide::prepare;
use dcb_core::embedded::EmbeddedStore;

/// Prints a step and its outcome, and checks it is the expected one.
fn expect(
    what: String,
    outcome: Result<(), EnrolmentError>,
    expected: Result<(), EnrolmentError>,
) -> Result<(), String> {
    step(&what, &outcome);
    if outcome == expected {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected:?}, got {outcome:?}"))
    }
}

/// Prints a step and its outcome.
fn step<T>(what: &str, outcome: &Result<T, EnrolmentError>) {
    match outcome {
        Ok(_) => println!("  {what}: ok"),
        Err(err) => println!("  {what}: refused, {err}"),
    }
}

pub async fn run() -> ExitCode {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => return super::fail(&format!("cannot make a temporary directory: {err}")),
    };
    let store = match EmbeddedStore::open(dir.path()) {
        Ok(store) => store,
        Err(err) => return super::fail(&err.to_string()),
    };
    println!("A fresh embedded store in {}", dir.path().display());
    let app = DcbEnrolment::new(store);
    match scenario(&app).await {
        Ok(()) => {
            println!("\nEvery step went as SPEC §3 says.");
            ExitCode::SUCCESS
        }
        Err(err) => super::fail(&format!("the demo went wrong: {err}")),
    }
}

async fn scenario(app: &DcbEnrolment<EmbeddedStore>) -> Result<(), String> {
    println!("\n1. Register five courses with 5 places each");
    let mut courses = Vec::new();
    for name in [
        "Dynamic Consistency Boundaries",
        "Maths",
        "Biology",
        "French",
        "Spanish",
    ] {
        let id = app
            .register_course(name, 5)
            .await
            .map_err(|e| e.to_string())?;
        println!("  {name}: {id}");
        courses.push(id);
    }
    let [dcb, maths, biology, french, spanish] = courses[..] else {
        return Err("five courses expected".into());
    };
    println!("\n2. Register seven students who may join 3 courses each");
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
        let id = app
            .register_student(name, 3)
            .await
            .map_err(|e| e.to_string())?;
        println!("  {name}: {id}");
        students.push(id);
    }
    let [sara, mollie, allard, grace, bastian, greg, katherine] = students[..] else {
        return Err("seven students expected".into());
    };
    let names = |id: StudentId| {
        [
            "Sara",
            "Mollie",
            "Allard",
            "Grace",
            "Bastian",
            "Greg",
            "Katherine",
        ][students.iter().position(|s| *s == id).unwrap_or(0)]
    };
    let course_name = |id: CourseId| {
        [
            "Dynamic Consistency Boundaries",
            "Maths",
            "Biology",
            "French",
            "Spanish",
        ][courses.iter().position(|c| *c == id).unwrap_or(0)]
    };

    println!("\n3. Five students join Dynamic Consistency Boundaries");
    for student in [sara, mollie, allard, grace, bastian] {
        let outcome = app.join_course(student, dcb).await;
        expect(
            format!("{} joins {}", names(student), course_name(dcb)),
            outcome,
            Ok(()),
        )?;
    }
    println!("\n4. The course is full");
    let outcome = app.join_course(greg, dcb).await;
    expect(
        format!("Greg joins {}", course_name(dcb)),
        outcome,
        Err(EnrolmentError::FullyBooked),
    )?;
    println!("\n5. Greg joins three courses, and may not join a fourth");
    for course in [french, spanish, maths] {
        let outcome = app.join_course(greg, course).await;
        expect(
            format!("Greg joins {}", course_name(course)),
            outcome,
            Ok(()),
        )?;
    }
    let outcome = app.join_course(greg, biology).await;
    expect(
        "Greg joins Biology".into(),
        outcome,
        Err(EnrolmentError::TooManyCourses),
    )?;
    println!("\n6. Katherine joins French, and cannot join it twice");
    let outcome = app.join_course(katherine, french).await;
    expect("Katherine joins French".into(), outcome, Ok(()))?;
    let outcome = app.join_course(katherine, french).await;
    expect(
        "Katherine joins French again".into(),
        outcome,
        Err(EnrolmentError::AlreadyJoined),
    )?;
    println!("\n7. Unknown courses and students");
    let outcome = app.join_course(grace, CourseId::new()).await;
    expect(
        "Grace joins an unknown course".into(),
        outcome,
        Err(EnrolmentError::CourseNotFound),
    )?;
    let outcome = app.join_course(StudentId::new(), dcb).await;
    expect(
        "An unknown student joins Dynamic Consistency Boundaries".into(),
        outcome,
        Err(EnrolmentError::StudentNotFound),
    )?;

    println!("\n8. The lists, in join order");
    for (label, course) in [("Dynamic Consistency Boundaries", dcb), ("French", french)] {
        let list = app
            .list_students_for_course(course)
            .await
            .map_err(|e| e.to_string())?;
        println!("  students of {label}: {}", list.join(", "));
    }
    for (label, student) in [("Sara", sara), ("Greg", greg)] {
        let list = app
            .list_courses_for_student(student)
            .await
            .map_err(|e| e.to_string())?;
        println!("  courses of {label}: {}", list.join(", "));
    }

    println!(
        "\n9. Consistency: Sara's join of French is decided, then Bastian joins French, then Sara's is saved"
    );
    let saras = prepare(
        app.store(),
        decisions::join_state(sara, french),
        decisions::join,
    )
    .await
    .map_err(|e| e.to_string())?;
    println!("  Sara's decision is made from the events up to now");
    let outcome = app.join_course(bastian, french).await;
    expect("Bastian joins French".into(), outcome, Ok(()))?;
    let head = app.store().head().await.map_err(|e| e.to_string())?;
    match saras.append(app.store()).await {
        Err(err) if err.conflicting_position().is_some() => {
            println!("  saving Sara's join: conflict, {err}")
        }
        other => return Err(format!("saving Sara's join should conflict, got {other:?}")),
    }
    if app.store().head().await.map_err(|e| e.to_string())? != head {
        return Err("the conflicting join wrote something".into());
    }
    let students = app
        .list_students_for_course(french)
        .await
        .map_err(|e| e.to_string())?;
    let courses = app
        .list_courses_for_student(sara)
        .await
        .map_err(|e| e.to_string())?;
    println!("  students of French: {}", students.join(", "));
    println!("  courses of Sara: {}", courses.join(", "));
    Ok(())
}
