//! The course-booking reference example of dcb: students join courses with
//! limited places, and each student may join a limited number of courses.
//!
//! The same application, [`Enrolment`], is built twice:
//!
//! - [`aggregates`]: the seed's style. `Course` and `Student` are
//!   event-sourced aggregates declared with `#[decision]`: every event is
//!   tagged with its aggregate's id, loading an aggregate reads its tag, and
//!   joining saves both aggregates in one append under the union of their
//!   queries.
//! - [`decisions`]: the DCB style. Each use case decides from exactly the
//!   events its rules depend on, so a rename does not conflict with a join,
//!   while a change of places does.
//!
//! Nothing here implements a trait or writes a query by hand: the macros
//! derive both from the annotations.

pub mod aggregates;
pub mod decisions;
mod error;
mod ids;
pub mod lists;
mod name;

use std::future::Future;
use std::time::Duration;

use dcb_core::Retry;

pub use crate::error::EnrolmentError;
pub use crate::ids::{CourseId, StudentId};
pub use crate::name::{NameProblem, check_name};

/// The enrolment application of docs/spec.md §3.
pub trait Enrolment: Send + Sync {
    /// Registers a student who may join up to `max_courses` courses.
    fn register_student(
        &self,
        name: &str,
        max_courses: u32,
    ) -> impl Future<Output = Result<StudentId, EnrolmentError>> + Send;

    /// Registers a course with `places` places.
    fn register_course(
        &self,
        name: &str,
        places: u32,
    ) -> impl Future<Output = Result<CourseId, EnrolmentError>> + Send;

    /// The student joins the course.
    fn join_course(
        &self,
        student_id: StudentId,
        course_id: CourseId,
    ) -> impl Future<Output = Result<(), EnrolmentError>> + Send;

    /// The names of the course's students, in the order they joined.
    fn list_students_for_course(
        &self,
        course_id: CourseId,
    ) -> impl Future<Output = Result<Vec<String>, EnrolmentError>> + Send;

    /// The names of the student's courses, in the order they were joined.
    fn list_courses_for_student(
        &self,
        student_id: StudentId,
    ) -> impl Future<Output = Result<Vec<String>, EnrolmentError>> + Send;
}

/// How both styles retry a decision that lost a race: a fresh read up to 50
/// times, with jittered backoff from 0.1 ms to 20 ms, so a caller sees a
/// conflict only under extreme contention.
#[must_use]
pub fn default_retry() -> Retry {
    Retry::attempts(50).backoff(Duration::from_micros(100), Duration::from_millis(20))
}
