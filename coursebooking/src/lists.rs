//! The lists the application shows — the students of a course, the courses
//! of a student — as a read model kept up to date by a subscription.
//!
//! [`CourseLists`] is built from the DCB-style events of
//! [`decisions`](crate::decisions). Unlike the decisions, which read a
//! consistency boundary at a time, it reads every registration, rename,
//! join and leave, and keeps each list in joining order with the current
//! names. A [`Runner`] applies the events and saves the lists with their
//! checkpoint; [`CourseLists::file`] is where the command line keeps them,
//! beside its embedded store, and [`CourseLists::start_runner`] how it
//! starts their runner.

use std::collections::BTreeMap;
use std::path::Path;

use dcb_core::read_model::{FileStorage, Mismatch, OnMismatch, Runner, StartError, Storage};
use dcb_core::{EventStore, read_model};
use serde::{Deserialize, Serialize};

use crate::decisions::{
    CourseRegistered, CourseRenamed, StudentJoinedCourse, StudentLeftCourse, StudentRegistered,
    StudentRenamed,
};
use crate::{CourseId, StudentId};

/// Every course's students and every student's courses, by name, in the
/// order they joined.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseLists {
    courses: BTreeMap<CourseId, Listed<StudentId>>,
    students: BTreeMap<StudentId, Listed<CourseId>>,
}

/// A course or a student: its current name and the other side's ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Listed<I> {
    name: String,
    members: Vec<I>,
}

impl<I> Default for Listed<I> {
    fn default() -> Self {
        Listed {
            name: String::new(),
            members: Vec::new(),
        }
    }
}

impl<I: PartialEq + Copy> Listed<I> {
    fn join(&mut self, id: I) {
        self.members.retain(|member| *member != id);
        self.members.push(id);
    }

    fn leave(&mut self, id: I) {
        self.members.retain(|member| *member != id);
    }
}

impl CourseLists {
    /// The read model's name, in its file's name and in messages.
    pub const NAME: &str = "course-lists";

    /// The file where the command line keeps the lists of the store in
    /// `data_dir`.
    #[must_use]
    pub fn file(data_dir: &Path) -> FileStorage {
        FileStorage::new(
            data_dir
                .join("read-models")
                .join(format!("{}.json", CourseLists::NAME)),
        )
    }

    /// Starts the runner that keeps the lists saved in `storage` up to
    /// date with `store`.
    ///
    /// Saved lists that do not match the store — an older copy of the
    /// store was restored, or its tail cut, after they were saved — are
    /// rebuilt from the log: they are only a view of it, and the log is
    /// what holds. The rebuild is said on stderr, in one line
    /// ([`rebuilt_notice`](Self::rebuilt_notice)), since it means the store
    /// lost events the lists had seen.
    ///
    /// # Errors
    ///
    /// A [`StartError`] when the saved lists cannot be loaded or the store
    /// cannot be read.
    pub async fn start_runner<S: EventStore, P: Storage<CourseLists>>(
        store: S,
        storage: P,
    ) -> Result<Runner<S, CourseLists, P>, StartError> {
        let runner = Runner::start_with(store, storage, OnMismatch::Rebuild).await?;
        if let Some(mismatch) = runner.rebuilt() {
            eprintln!("{}", CourseLists::rebuilt_notice(mismatch));
        }
        Ok(runner)
    }

    /// The line [`start_runner`](Self::start_runner) prints when it
    /// rebuilds the lists: "the read model course-lists did not match the
    /// store: its checkpoint 25 is beyond the store's head 20; rebuilt it
    /// from the log".
    #[must_use]
    pub fn rebuilt_notice(mismatch: &Mismatch) -> String {
        format!(
            "the read model {} did not match the store: {mismatch}; rebuilt it from the log",
            CourseLists::NAME
        )
    }

    /// The names of the course's students, in the order they joined; empty
    /// for a course nobody joined or that does not exist.
    #[must_use]
    pub fn students_of(&self, course_id: CourseId) -> Vec<String> {
        self.students_with_ids(course_id)
            .into_iter()
            .map(|(_, name)| name)
            .collect()
    }

    /// The course's students with their ids, in the order they joined.
    #[must_use]
    pub fn students_with_ids(&self, course_id: CourseId) -> Vec<(StudentId, String)> {
        self.courses
            .get(&course_id)
            .map_or_else(Vec::new, |course| {
                course
                    .members
                    .iter()
                    .filter_map(|id| self.students.get(id).map(|s| (*id, s.name.clone())))
                    .collect()
            })
    }

    /// The names of the student's courses, in the order they were joined;
    /// empty for a student who joined none or does not exist.
    #[must_use]
    pub fn courses_of(&self, student_id: StudentId) -> Vec<String> {
        self.courses_with_ids(student_id)
            .into_iter()
            .map(|(_, name)| name)
            .collect()
    }

    /// The student's courses with their ids, in the order they were joined.
    #[must_use]
    pub fn courses_with_ids(&self, student_id: StudentId) -> Vec<(CourseId, String)> {
        self.students
            .get(&student_id)
            .map_or_else(Vec::new, |student| {
                student
                    .members
                    .iter()
                    .filter_map(|id| self.courses.get(id).map(|c| (*id, c.name.clone())))
                    .collect()
            })
    }
}

/// The handlers: `#[read_model]` derives the query (every event of these
/// types) and the dispatch.
#[read_model]
impl CourseLists {
    fn course_registered(&mut self, event: &CourseRegistered) {
        self.courses
            .entry(event.course_id)
            .or_default()
            .name
            .clone_from(&event.name);
    }

    fn course_renamed(&mut self, event: &CourseRenamed) {
        self.courses
            .entry(event.course_id)
            .or_default()
            .name
            .clone_from(&event.name);
    }

    fn student_registered(&mut self, event: &StudentRegistered) {
        self.students
            .entry(event.student_id)
            .or_default()
            .name
            .clone_from(&event.name);
    }

    fn student_renamed(&mut self, event: &StudentRenamed) {
        self.students
            .entry(event.student_id)
            .or_default()
            .name
            .clone_from(&event.name);
    }

    fn joined(&mut self, event: &StudentJoinedCourse) {
        self.courses
            .entry(event.course_id)
            .or_default()
            .join(event.student_id);
        self.students
            .entry(event.student_id)
            .or_default()
            .join(event.course_id);
    }

    fn left(&mut self, event: &StudentLeftCourse) {
        self.courses
            .entry(event.course_id)
            .or_default()
            .leave(event.student_id);
        self.students
            .entry(event.student_id)
            .or_default()
            .leave(event.course_id);
    }
}
