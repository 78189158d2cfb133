//! The DCB style: one decision per use case, each reading exactly the
//! events its rules depend on.
//!
//! Joining a course depends on the course's capacity and members (which
//! answer whether the student already joined) and the student's limit —
//! two small projections read and appended under as one composite
//! decision. A course's name is no part of it, so renaming a course never
//! conflicts with a join; its number of places is, so a change of places
//! does.
//!
//! With a [`KnownState`] ([`DcbEnrolment::with_known_state`]) a join is
//! decided from the kept states of the course and the student, without a
//! read: the course's capacity holds its members, rather than leaving
//! "already joined" to a projection of the pair, because a pair is new to
//! every join while its course and student are not. A registration then
//! decides from the new course's (or student's) state before any event
//! ([`Decider::decide_new`]), and keeps it for the joins.

use dcb_core::load;
use dcb_core::{Decider, Event, EventStore, KnownState, Metadata, Retry, decision};
use serde::{Deserialize, Serialize};

use crate::{CourseId, Enrolment, EnrolmentError, StudentId, check_name};

/// A course was registered.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CourseRegistered {
    /// The new course.
    #[tag]
    pub course_id: CourseId,
    /// Its name.
    pub name: String,
    /// How many students may join it.
    pub places: u32,
}

/// A course was renamed.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CourseRenamed {
    /// The course.
    #[tag]
    pub course_id: CourseId,
    /// Its new name.
    pub name: String,
}

/// A course's number of places changed.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CoursePlacesChanged {
    /// The course.
    #[tag]
    pub course_id: CourseId,
    /// How many students may join it now.
    pub places: u32,
}

/// A student was registered.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StudentRegistered {
    /// The new student.
    #[tag]
    pub student_id: StudentId,
    /// Their name.
    pub name: String,
    /// How many courses they may join.
    pub max_courses: u32,
}

/// A student was renamed.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StudentRenamed {
    /// The student.
    #[tag]
    pub student_id: StudentId,
    /// Their new name.
    pub name: String,
}

/// A student's course limit changed.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StudentMaxCoursesChanged {
    /// The student.
    #[tag]
    pub student_id: StudentId,
    /// How many courses they may join now.
    pub max_courses: u32,
}

/// A student joined a course.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StudentJoinedCourse {
    /// The student.
    #[tag]
    pub student_id: StudentId,
    /// The course.
    #[tag]
    pub course_id: CourseId,
}

/// A student left a course.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StudentLeftCourse {
    /// The student.
    #[tag]
    pub student_id: StudentId,
    /// The course.
    #[tag]
    pub course_id: CourseId,
}

/// Whether a course exists, its places, and the students in it.
#[decision]
#[derive(Clone, Debug)]
pub struct CourseCapacity {
    #[boundary]
    course_id: CourseId,
    exists: bool,
    places: u32,
    students: Vec<StudentId>,
}

impl CourseCapacity {
    /// How many students are in the course.
    fn joined(&self) -> u32 {
        u32::try_from(self.students.len()).unwrap_or(u32::MAX)
    }
}

#[decision]
impl CourseCapacity {
    fn registered(&mut self, event: &CourseRegistered) {
        self.exists = true;
        self.places = event.places;
    }

    fn places_changed(&mut self, event: &CoursePlacesChanged) {
        self.places = event.places;
    }

    fn student_joined(&mut self, event: &StudentJoinedCourse) {
        if !self.students.contains(&event.student_id) {
            self.students.push(event.student_id);
        }
    }

    fn student_left(&mut self, event: &StudentLeftCourse) {
        self.students.retain(|s| *s != event.student_id);
    }
}

/// Whether a student exists, their course limit, and how many courses they
/// are in.
#[decision]
#[derive(Clone, Debug)]
pub struct StudentCapacity {
    #[boundary]
    student_id: StudentId,
    exists: bool,
    max_courses: u32,
    joined: u32,
}

#[decision]
impl StudentCapacity {
    fn registered(&mut self, event: &StudentRegistered) {
        self.exists = true;
        self.max_courses = event.max_courses;
    }

    fn max_courses_changed(&mut self, event: &StudentMaxCoursesChanged) {
        self.max_courses = event.max_courses;
    }

    fn joined(&mut self, _: &StudentJoinedCourse) {
        self.joined += 1;
    }

    fn left(&mut self, _: &StudentLeftCourse) {
        self.joined = self.joined.saturating_sub(1);
    }
}

/// Whether a student is in a course: the boundary is the pair.
#[decision]
#[derive(Clone, Debug)]
pub struct Membership {
    #[boundary]
    student_id: StudentId,
    #[boundary]
    course_id: CourseId,
    joined: bool,
}

#[decision]
impl Membership {
    fn joined(&mut self, _: &StudentJoinedCourse) {
        self.joined = true;
    }

    fn left(&mut self, _: &StudentLeftCourse) {
        self.joined = false;
    }
}

/// A course's name, if it exists.
#[decision]
#[derive(Clone, Debug)]
pub struct CourseName {
    #[boundary]
    course_id: CourseId,
    name: Option<String>,
}

#[decision]
impl CourseName {
    fn registered(&mut self, event: &CourseRegistered) {
        self.name = Some(event.name.clone());
    }

    fn renamed(&mut self, event: &CourseRenamed) {
        self.name = Some(event.name.clone());
    }
}

/// A student's name, if they exist.
#[decision]
#[derive(Clone, Debug)]
pub struct StudentName {
    #[boundary]
    student_id: StudentId,
    name: Option<String>,
}

#[decision]
impl StudentName {
    fn registered(&mut self, event: &StudentRegistered) {
        self.name = Some(event.name.clone());
    }

    fn renamed(&mut self, event: &StudentRenamed) {
        self.name = Some(event.name.clone());
    }
}

/// The students in a course, in the order they joined.
#[decision]
#[derive(Clone, Debug)]
pub struct CourseMembers {
    #[boundary]
    course_id: CourseId,
    students: Vec<StudentId>,
}

#[decision]
impl CourseMembers {
    fn joined(&mut self, event: &StudentJoinedCourse) {
        self.students.retain(|s| *s != event.student_id);
        self.students.push(event.student_id);
    }

    fn left(&mut self, event: &StudentLeftCourse) {
        self.students.retain(|s| *s != event.student_id);
    }
}

/// The courses of a student, in the order they were joined.
#[decision]
#[derive(Clone, Debug)]
pub struct StudentCourses {
    #[boundary]
    student_id: StudentId,
    courses: Vec<CourseId>,
}

#[decision]
impl StudentCourses {
    fn joined(&mut self, event: &StudentJoinedCourse) {
        self.courses.retain(|c| *c != event.course_id);
        self.courses.push(event.course_id);
    }

    fn left(&mut self, event: &StudentLeftCourse) {
        self.courses.retain(|c| *c != event.course_id);
    }
}

/// The state a join is decided from.
pub type JoinState = (CourseCapacity, StudentCapacity);

/// The state of "`student_id` joins `course_id`" before any event.
#[must_use]
pub fn join_state(student_id: StudentId, course_id: CourseId) -> JoinState {
    (
        CourseCapacity::new(course_id),
        StudentCapacity::new(student_id),
    )
}

/// The join rule.
pub fn join((course, student): &JoinState) -> Result<StudentJoinedCourse, EnrolmentError> {
    if !course.exists {
        return Err(EnrolmentError::CourseNotFound);
    }
    if !student.exists {
        return Err(EnrolmentError::StudentNotFound);
    }
    if course.students.contains(&student.student_id) {
        return Err(EnrolmentError::AlreadyJoined);
    }
    if course.joined() >= course.places {
        return Err(EnrolmentError::FullyBooked);
    }
    if student.joined >= student.max_courses {
        return Err(EnrolmentError::TooManyCourses);
    }
    Ok(StudentJoinedCourse {
        student_id: student.student_id,
        course_id: course.course_id,
    })
}

/// The enrolment application in the DCB style, on any store.
#[derive(Debug)]
pub struct DcbEnrolment<S> {
    store: S,
    retry: Retry,
    metadata: Metadata,
    known: Option<KnownState>,
}

impl<S: EventStore> DcbEnrolment<S> {
    /// The application on `store`. Decisions that lose a race are retried
    /// with a fresh read (up to 50 attempts, with jittered backoff), so a
    /// caller sees a conflict only under extreme contention.
    pub fn new(store: S) -> DcbEnrolment<S> {
        DcbEnrolment {
            store,
            retry: crate::default_retry(),
            metadata: Metadata::new(),
            known: None,
        }
    }

    /// Decides from `known` state where it can, without reading (see the
    /// module's documentation); applications sharing one `known` share
    /// what each decided. Off by default.
    #[must_use]
    pub fn with_known_state(mut self, known: KnownState) -> DcbEnrolment<S> {
        self.known = Some(known);
        self
    }

    /// Stamps `metadata` on every event the application appends: the CLI
    /// records the command and a correlation id per invocation.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> DcbEnrolment<S> {
        self.metadata = metadata;
        self
    }

    /// Sets how decisions that lose a race are retried.
    #[must_use]
    pub fn with_retry(mut self, retry: Retry) -> DcbEnrolment<S> {
        self.retry = retry;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    fn decider(&self) -> Decider<'_, S> {
        let decider = Decider::new(&self.store)
            .retry(self.retry)
            .metadata(self.metadata.clone());
        match &self.known {
            Some(known) => decider.known(known),
            None => decider,
        }
    }

    /// The student leaves the course.
    pub async fn leave_course(
        &self,
        student_id: StudentId,
        course_id: CourseId,
    ) -> Result<(), EnrolmentError> {
        self.decider()
            .decide(Membership::new(student_id, course_id), |membership| {
                if membership.joined {
                    Ok(StudentLeftCourse {
                        student_id,
                        course_id,
                    })
                } else {
                    Err(EnrolmentError::NotJoined)
                }
            })
            .await?;
        Ok(())
    }

    /// Renames a student. Only the student's existence is checked, so a
    /// rename never conflicts with the student joining or leaving courses.
    pub async fn rename_student(
        &self,
        student_id: StudentId,
        name: &str,
    ) -> Result<(), EnrolmentError> {
        let name = check_name(name)?;
        self.decider()
            .decide(StudentName::new(student_id), |student| match student.name {
                Some(_) => Ok(StudentRenamed {
                    student_id,
                    name: name.clone(),
                }),
                None => Err(EnrolmentError::StudentNotFound),
            })
            .await?;
        Ok(())
    }

    /// Renames a course; never conflicts with joins.
    pub async fn rename_course(
        &self,
        course_id: CourseId,
        name: &str,
    ) -> Result<(), EnrolmentError> {
        let name = check_name(name)?;
        self.decider()
            .decide(CourseName::new(course_id), |course| match course.name {
                Some(_) => Ok(CourseRenamed {
                    course_id,
                    name: name.clone(),
                }),
                None => Err(EnrolmentError::CourseNotFound),
            })
            .await?;
        Ok(())
    }

    /// Changes a course's places; not below the students already in it. A
    /// join decided concurrently conflicts with it.
    pub async fn change_places(
        &self,
        course_id: CourseId,
        places: u32,
    ) -> Result<(), EnrolmentError> {
        self.decider()
            .decide(CourseCapacity::new(course_id), |course| {
                if !course.exists {
                    Err(EnrolmentError::CourseNotFound)
                } else if places < course.joined() {
                    Err(EnrolmentError::TooFewPlaces {
                        joined: course.joined(),
                    })
                } else {
                    Ok(CoursePlacesChanged { course_id, places })
                }
            })
            .await?;
        Ok(())
    }

    /// Changes how many courses a student may join; not below the courses
    /// they are in.
    pub async fn change_max_courses(
        &self,
        student_id: StudentId,
        max_courses: u32,
    ) -> Result<(), EnrolmentError> {
        self.decider()
            .decide(StudentCapacity::new(student_id), |student| {
                if !student.exists {
                    Err(EnrolmentError::StudentNotFound)
                } else if max_courses < student.joined {
                    Err(EnrolmentError::MaxCoursesTooLow {
                        joined: student.joined,
                    })
                } else {
                    Ok(StudentMaxCoursesChanged {
                        student_id,
                        max_courses,
                    })
                }
            })
            .await?;
        Ok(())
    }
}

impl<S: EventStore> Enrolment for DcbEnrolment<S> {
    async fn register_student(
        &self,
        name: &str,
        max_courses: u32,
    ) -> Result<StudentId, EnrolmentError> {
        let name = check_name(name)?;
        let student_id = StudentId::new();
        let register = |student: &StudentName| match student.name {
            None => Ok(StudentRegistered {
                student_id,
                name: name.clone(),
                max_courses,
            }),
            Some(_) => Err(EnrolmentError::Store(
                "a new student id is already taken".to_owned(),
            )),
        };
        if self.known.is_some() {
            // The new student's capacity is known too: no event has the id.
            let state = (
                StudentName::new(student_id),
                StudentCapacity::new(student_id),
            );
            self.decider()
                .decide_new(state, |(student, _)| register(student))
                .await?;
        } else {
            self.decider()
                .decide(StudentName::new(student_id), register)
                .await?;
        }
        Ok(student_id)
    }

    async fn register_course(&self, name: &str, places: u32) -> Result<CourseId, EnrolmentError> {
        let name = check_name(name)?;
        let course_id = CourseId::new();
        let register = |course: &CourseName| match course.name {
            None => Ok(CourseRegistered {
                course_id,
                name: name.clone(),
                places,
            }),
            Some(_) => Err(EnrolmentError::Store(
                "a new course id is already taken".to_owned(),
            )),
        };
        if self.known.is_some() {
            // The new course's capacity is known too: no event has the id.
            let state = (CourseName::new(course_id), CourseCapacity::new(course_id));
            self.decider()
                .decide_new(state, |(course, _)| register(course))
                .await?;
        } else {
            self.decider()
                .decide(CourseName::new(course_id), register)
                .await?;
        }
        Ok(course_id)
    }

    async fn join_course(
        &self,
        student_id: StudentId,
        course_id: CourseId,
    ) -> Result<(), EnrolmentError> {
        self.decider()
            .decide(join_state(student_id, course_id), join)
            .await?;
        Ok(())
    }

    async fn list_students_for_course(
        &self,
        course_id: CourseId,
    ) -> Result<Vec<String>, EnrolmentError> {
        let members = load(&self.store, CourseMembers::new(course_id)).await?;
        let names = load(
            &self.store,
            members
                .students
                .iter()
                .map(|s| StudentName::new(*s))
                .collect::<Vec<_>>(),
        )
        .await?;
        Ok(names.into_iter().filter_map(|s| s.name).collect())
    }

    async fn list_courses_for_student(
        &self,
        student_id: StudentId,
    ) -> Result<Vec<String>, EnrolmentError> {
        let courses = load(&self.store, StudentCourses::new(student_id)).await?;
        let names = load(
            &self.store,
            courses
                .courses
                .iter()
                .map(|c| CourseName::new(*c))
                .collect::<Vec<_>>(),
        )
        .await?;
        Ok(names.into_iter().filter_map(|c| c.name).collect())
    }
}
