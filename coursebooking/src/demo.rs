//! `coursebooking demo`: docs/spec.md §3 on a fresh embedded store, step by step.

use std::process::ExitCode;

use coursebooking::decisions::{self, DcbEnrolment};
use coursebooking::{CourseId, Enrolment, EnrolmentError, StudentId};
use dcb_core::EventStore;
use dcb_core::embedded::EmbeddedStore;
use dcb_core::prepare;

use crate::out::{self, Stop, say};

const COURSES: [&str; 5] = [
    "Dynamic Consistency Boundaries",
    "Maths",
    "Biology",
    "French",
    "Spanish",
];
const STUDENTS: [&str; 7] = [
    "Sara",
    "Mollie",
    "Allard",
    "Grace",
    "Bastian",
    "Greg",
    "Katherine",
];

pub async fn run() -> ExitCode {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => return super::fail(&format!("cannot make a temporary directory: {err}")),
    };
    let store = match EmbeddedStore::open(dir.path()) {
        Ok(store) => store,
        Err(err) => return super::fail(&err.to_string()),
    };
    let mut demo = Demo {
        app: DcbEnrolment::new(store),
        courses: Vec::new(),
        students: Vec::new(),
    };
    let outcome = async {
        say!("A fresh embedded store in {}", dir.path().display())?;
        demo.scenario().await?;
        say!("\nEvery step went as docs/spec.md §3 says.")?;
        Ok::<(), Stop>(())
    }
    .await;
    demo.app.store().clone().close();
    out::exit_status(outcome.map_err(|stop| match stop {
        Stop::Failed(err) => Stop::Failed(format!("the demo went wrong: {err}")),
        Stop::Closed => Stop::Closed,
    }))
}

struct Demo {
    app: DcbEnrolment<EmbeddedStore>,
    courses: Vec<CourseId>,
    students: Vec<StudentId>,
}

impl Demo {
    fn course(&self, name: &str) -> CourseId {
        let index = COURSES.iter().position(|c| *c == name).unwrap_or(0);
        self.courses[index]
    }

    fn student(&self, name: &str) -> StudentId {
        let index = STUDENTS.iter().position(|s| *s == name).unwrap_or(0);
        self.students[index]
    }

    /// Prints "`student` joins `course`" and its outcome, and checks it.
    async fn join(
        &self,
        student: &str,
        course: &str,
        expected: Result<(), EnrolmentError>,
    ) -> Result<(), Stop> {
        let student_id = if student == "An unknown student" {
            StudentId::new()
        } else {
            self.student(student)
        };
        let course_id = if course == "an unknown course" {
            CourseId::new()
        } else {
            self.course(course)
        };
        let outcome = self.app.join_course(student_id, course_id).await;
        match &outcome {
            Ok(()) => say!("  {student} joins {course}: ok")?,
            Err(err) => say!("  {student} joins {course}: refused, {err}")?,
        }
        if outcome == expected {
            Ok(())
        } else {
            Err(Stop::Failed(format!(
                "{student} joins {course}: expected {expected:?}, got {outcome:?}"
            )))
        }
    }

    async fn lists(&self, courses: &[&str], students: &[&str]) -> Result<(), Stop> {
        for &course in courses {
            let names = self.app.list_students_for_course(self.course(course)).await;
            say!(
                "  students of {course}: {}",
                names.map_err(|e| e.to_string())?.join(", ")
            )?;
        }
        for &student in students {
            let names = self
                .app
                .list_courses_for_student(self.student(student))
                .await;
            say!(
                "  courses of {student}: {}",
                names.map_err(|e| e.to_string())?.join(", ")
            )?;
        }
        Ok(())
    }

    async fn scenario(&mut self) -> Result<(), Stop> {
        say!("\n1. Register five courses with 5 places each")?;
        for name in COURSES {
            let id = self
                .app
                .register_course(name, 5)
                .await
                .map_err(|e| e.to_string())?;
            say!("  {name}: {id}")?;
            self.courses.push(id);
        }
        say!("\n2. Register seven students who may join 3 courses each")?;
        for name in STUDENTS {
            let id = self
                .app
                .register_student(name, 3)
                .await
                .map_err(|e| e.to_string())?;
            say!("  {name}: {id}")?;
            self.students.push(id);
        }
        let dcb = COURSES[0];
        say!("\n3. Five students join {dcb}")?;
        for student in &STUDENTS[..5] {
            self.join(student, dcb, Ok(())).await?;
        }
        say!("\n4. The course is full")?;
        self.join("Greg", dcb, Err(EnrolmentError::FullyBooked))
            .await?;
        say!("\n5. Greg joins three courses, and may not join a fourth")?;
        for course in ["French", "Spanish", "Maths"] {
            self.join("Greg", course, Ok(())).await?;
        }
        self.join("Greg", "Biology", Err(EnrolmentError::TooManyCourses))
            .await?;
        say!("\n6. Katherine joins French, and cannot join it twice")?;
        self.join("Katherine", "French", Ok(())).await?;
        self.join("Katherine", "French", Err(EnrolmentError::AlreadyJoined))
            .await?;
        say!("\n7. Unknown courses and students")?;
        self.join(
            "Grace",
            "an unknown course",
            Err(EnrolmentError::CourseNotFound),
        )
        .await?;
        self.join(
            "An unknown student",
            dcb,
            Err(EnrolmentError::StudentNotFound),
        )
        .await?;
        say!("\n8. The lists, in join order")?;
        self.lists(&[dcb, "French"], &["Sara", "Greg"]).await?;
        self.consistency().await
    }

    /// Step 9: a decision made before a conflicting join is refused when it
    /// is saved after it, and writes nothing.
    async fn consistency(&self) -> Result<(), Stop> {
        say!(
            "\n9. Sara's join of French is decided, then Bastian joins French, then Sara's is saved"
        )?;
        let state = decisions::join_state(self.student("Sara"), self.course("French"));
        let saras = prepare(self.app.store(), state, decisions::join)
            .await
            .map_err(|e| e.to_string())?;
        say!("  Sara's decision is made from the events up to now")?;
        self.join("Bastian", "French", Ok(())).await?;
        let head = self.app.store().head().await.map_err(|e| e.to_string())?;
        match saras.append(self.app.store()).await {
            Err(err) if err.conflicting_position().is_some() => {
                say!("  saving Sara's join: conflict, {err}")?;
            }
            other => {
                return Err(Stop::Failed(format!(
                    "saving Sara's join should conflict, got {other:?}"
                )));
            }
        }
        if self.app.store().head().await.map_err(|e| e.to_string())? != head {
            return Err(Stop::Failed(
                "the conflicting join wrote something".to_owned(),
            ));
        }
        self.lists(&["French"], &["Sara"]).await
    }
}
