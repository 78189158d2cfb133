//! The seed's style: `Course` and `Student` as event-sourced aggregates.
//!
//! Every event is tagged with its aggregate's id and nothing else, so an
//! aggregate's query — its event types × its id's tag — is "all events with
//! its tag". Joining changes both aggregates: they are decided together as
//! one composite, read in one query and saved in one append under the union
//! of their queries, which makes the consistency boundary span both.

use dcb_core::load;
use dcb_core::{Decider, Event, EventStore, Retry, decision};
use serde::{Deserialize, Serialize};

use crate::{CourseId, Enrolment, EnrolmentError, StudentId, check_name};

/// A course was registered.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "Course.Registered")]
pub struct CourseWasRegistered {
    /// The course.
    #[tag]
    pub course_id: CourseId,
    /// Its name.
    pub name: String,
    /// How many students may join it.
    pub places: u32,
}

/// The course accepted a student.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "Course.StudentAccepted")]
pub struct StudentAccepted {
    /// The course.
    #[tag]
    pub course_id: CourseId,
    /// The student, as data: the event belongs to the course.
    pub student_id: StudentId,
}

/// A student was registered.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "Student.Registered")]
pub struct StudentWasRegistered {
    /// The student.
    #[tag]
    pub student_id: StudentId,
    /// Their name.
    pub name: String,
    /// How many courses they may join.
    pub max_courses: u32,
}

/// The student joined a course.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "Student.JoinedCourse")]
pub struct JoinedCourse {
    /// The student.
    #[tag]
    pub student_id: StudentId,
    /// The course, as data: the event belongs to the student.
    pub course_id: CourseId,
}

/// The course aggregate.
#[decision]
#[derive(Clone, Debug)]
pub struct Course {
    #[boundary]
    id: CourseId,
    name: Option<String>,
    places: u32,
    students: Vec<StudentId>,
}

#[decision]
impl Course {
    fn registered(&mut self, event: &CourseWasRegistered) {
        self.name = Some(event.name.clone());
        self.places = event.places;
    }

    fn accepted(&mut self, event: &StudentAccepted) {
        self.students.push(event.student_id);
    }
}

impl Course {
    /// Accepts a student, if there is room.
    pub fn accept_student(&self, student_id: StudentId) -> Result<StudentAccepted, EnrolmentError> {
        if self.name.is_none() {
            return Err(EnrolmentError::CourseNotFound);
        }
        if self.students.contains(&student_id) {
            return Err(EnrolmentError::AlreadyJoined);
        }
        if self.students.len() >= self.places as usize {
            return Err(EnrolmentError::FullyBooked);
        }
        Ok(StudentAccepted {
            course_id: self.id,
            student_id,
        })
    }
}

/// The student aggregate.
#[decision]
#[derive(Clone, Debug)]
pub struct Student {
    #[boundary]
    id: StudentId,
    name: Option<String>,
    max_courses: u32,
    courses: Vec<CourseId>,
}

#[decision]
impl Student {
    fn registered(&mut self, event: &StudentWasRegistered) {
        self.name = Some(event.name.clone());
        self.max_courses = event.max_courses;
    }

    fn joined(&mut self, event: &JoinedCourse) {
        self.courses.push(event.course_id);
    }
}

impl Student {
    /// Joins a course, if the student's limit allows.
    pub fn join_course(&self, course_id: CourseId) -> Result<JoinedCourse, EnrolmentError> {
        if self.name.is_none() {
            return Err(EnrolmentError::StudentNotFound);
        }
        if self.courses.contains(&course_id) {
            return Err(EnrolmentError::AlreadyJoined);
        }
        if self.courses.len() >= self.max_courses as usize {
            return Err(EnrolmentError::TooManyCourses);
        }
        Ok(JoinedCourse {
            student_id: self.id,
            course_id,
        })
    }
}

/// The rule of joining, over both aggregates: both must exist, then each
/// applies its own rules.
pub fn join(
    (course, student): &(Course, Student),
) -> Result<(StudentAccepted, JoinedCourse), EnrolmentError> {
    if course.name.is_none() {
        return Err(EnrolmentError::CourseNotFound);
    }
    if student.name.is_none() {
        return Err(EnrolmentError::StudentNotFound);
    }
    let accepted = course.accept_student(student.id)?;
    let joined = student.join_course(course.id)?;
    Ok((accepted, joined))
}

/// The enrolment application with aggregates, on any store.
#[derive(Debug)]
pub struct AggregateEnrolment<S> {
    store: S,
    retry: Retry,
}

impl<S: EventStore> AggregateEnrolment<S> {
    /// The application on `store`; decisions that lose a race are retried
    /// as in [`DcbEnrolment`](crate::decisions::DcbEnrolment).
    pub fn new(store: S) -> AggregateEnrolment<S> {
        AggregateEnrolment {
            store,
            retry: crate::default_retry(),
        }
    }

    /// Sets how decisions that lose a race are retried.
    #[must_use]
    pub fn with_retry(mut self, retry: Retry) -> AggregateEnrolment<S> {
        self.retry = retry;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    fn decider(&self) -> Decider<'_, S> {
        Decider::new(&self.store).retry(self.retry)
    }
}

impl<S: EventStore> Enrolment for AggregateEnrolment<S> {
    async fn register_student(
        &self,
        name: &str,
        max_courses: u32,
    ) -> Result<StudentId, EnrolmentError> {
        let name = check_name(name)?;
        let id = StudentId::new();
        self.decider()
            .decide(Student::new(id), |student| match student.name {
                None => Ok(StudentWasRegistered {
                    student_id: id,
                    name: name.clone(),
                    max_courses,
                }),
                Some(_) => Err(EnrolmentError::Store(
                    "a new student id is already taken".to_owned(),
                )),
            })
            .await?;
        Ok(id)
    }

    async fn register_course(&self, name: &str, places: u32) -> Result<CourseId, EnrolmentError> {
        let name = check_name(name)?;
        let id = CourseId::new();
        self.decider()
            .decide(Course::new(id), |course| match course.name {
                None => Ok(CourseWasRegistered {
                    course_id: id,
                    name: name.clone(),
                    places,
                }),
                Some(_) => Err(EnrolmentError::Store(
                    "a new course id is already taken".to_owned(),
                )),
            })
            .await?;
        Ok(id)
    }

    async fn join_course(
        &self,
        student_id: StudentId,
        course_id: CourseId,
    ) -> Result<(), EnrolmentError> {
        self.decider()
            .decide((Course::new(course_id), Student::new(student_id)), join)
            .await?;
        Ok(())
    }

    async fn list_students_for_course(
        &self,
        course_id: CourseId,
    ) -> Result<Vec<String>, EnrolmentError> {
        let course = load(&self.store, Course::new(course_id)).await?;
        let students = load(
            &self.store,
            course
                .students
                .iter()
                .map(|s| Student::new(*s))
                .collect::<Vec<_>>(),
        )
        .await?;
        Ok(students.into_iter().filter_map(|s| s.name).collect())
    }

    async fn list_courses_for_student(
        &self,
        student_id: StudentId,
    ) -> Result<Vec<String>, EnrolmentError> {
        let student = load(&self.store, Student::new(student_id)).await?;
        let courses = load(
            &self.store,
            student
                .courses
                .iter()
                .map(|c| Course::new(*c))
                .collect::<Vec<_>>(),
        )
        .await?;
        Ok(courses.into_iter().filter_map(|c| c.name).collect())
    }
}
