//! [`EnrolmentError`]: what can go wrong, in the domain's words.

use dcb_core::{DecideError, Position};

use crate::NameProblem;

/// Why an enrolment command or query failed. The first group are the
/// domain's refusals; the rest are about the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnrolmentError {
    /// The course has no free place.
    #[error("course is fully booked")]
    FullyBooked,
    /// The student has joined as many courses as allowed.
    #[error("student has joined too many courses")]
    TooManyCourses,
    /// The student has already joined the course.
    #[error("student has already joined this course")]
    AlreadyJoined,
    /// No student with this id is registered.
    #[error("student not found")]
    StudentNotFound,
    /// No course with this id is registered.
    #[error("course not found")]
    CourseNotFound,
    /// The student has not joined the course.
    #[error("student has not joined this course")]
    NotJoined,
    /// A course cannot have fewer places than students who joined it.
    #[error("course has {joined} students; it cannot have fewer places")]
    TooFewPlaces {
        /// Students who joined the course.
        joined: u32,
    },
    /// A student cannot be limited to fewer courses than they joined.
    #[error("student has joined {joined} courses; the limit cannot be lower")]
    MaxCoursesTooLow {
        /// Courses the student joined.
        joined: u32,
    },
    /// A course or student name is blank or holds a character that is not
    /// shown; see [`check_name`](crate::check_name).
    #[error("invalid name {name:?}: {problem}")]
    InvalidName {
        /// The name as given (shown escaped in the message).
        name: String,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// Something the decision depended on changed while it was being made,
    /// on every attempt; nothing was written.
    #[error("the course or student changed at the same time (event {conflicting}); try again")]
    Conflict {
        /// The first conflicting event.
        conflicting: Position,
    },
    /// The store failed.
    #[error("store error: {0}")]
    Store(String),
}

impl EnrolmentError {
    /// Whether this is the domain refusing the command (as opposed to a
    /// conflict or a store failure).
    #[must_use]
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            EnrolmentError::Conflict { .. } | EnrolmentError::Store(_)
        )
    }
}

impl From<DecideError<EnrolmentError>> for EnrolmentError {
    fn from(err: DecideError<EnrolmentError>) -> EnrolmentError {
        match err {
            DecideError::Rejected(refusal) => refusal,
            DecideError::Conflict { conflicting, .. } => EnrolmentError::Conflict { conflicting },
            other => EnrolmentError::Store(other.to_string()),
        }
    }
}

impl From<DecideError<std::convert::Infallible>> for EnrolmentError {
    fn from(err: DecideError<std::convert::Infallible>) -> EnrolmentError {
        EnrolmentError::Store(err.to_string())
    }
}
