//! The typed ids of the domain; their values render as `course:<uuid>` and
//! `student:<uuid>` tags.

use dcb_core::Id;

/// Identifies a course.
#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct CourseId(dcb_core::Uuid);

/// Identifies a student.
#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct StudentId(dcb_core::Uuid);
