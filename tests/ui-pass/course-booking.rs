// A typical domain: ids, events tagged with them, two decisions and their
// composite, run through the test kit.

use dcb_core::testkit::given;
use dcb_core::{Event, Id, Projection, decision};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct StudentId(dcb_core::Uuid);

#[derive(Event, Serialize, Deserialize, Debug)]
struct CourseRegistered {
    #[tag]
    course_id: CourseId,
    places: u32,
}

#[derive(Event, Serialize, Deserialize, Debug)]
struct StudentRegistered {
    #[tag]
    student_id: StudentId,
    max_courses: u32,
}

#[derive(Event, Serialize, Deserialize, Debug)]
struct StudentJoinedCourse {
    #[tag]
    course_id: CourseId,
    #[tag]
    student_id: StudentId,
}

#[decision]
struct CourseCapacity {
    #[boundary]
    course_id: CourseId,
    places: Option<u32>,
    joined: u32,
}

#[decision]
impl CourseCapacity {
    fn registered(&mut self, event: &CourseRegistered) {
        self.places = Some(event.places);
    }

    fn joined(&mut self, _: &StudentJoinedCourse) {
        self.joined += 1;
    }
}

#[decision]
struct StudentLoad {
    #[boundary]
    student_id: StudentId,
    max_courses: Option<u32>,
    courses: u32,
}

#[decision]
impl StudentLoad {
    fn registered(&mut self, event: &StudentRegistered) {
        self.max_courses = Some(event.max_courses);
    }

    fn joined(&mut self, _: &StudentJoinedCourse) {
        self.courses += 1;
    }
}

#[derive(Debug, PartialEq)]
enum JoinError {
    CourseNotFound,
    StudentNotFound,
    FullyBooked,
    TooManyCourses,
}

fn join(
    (course, student): &(CourseCapacity, StudentLoad),
) -> Result<StudentJoinedCourse, JoinError> {
    let places = course.places.ok_or(JoinError::CourseNotFound)?;
    let max_courses = student.max_courses.ok_or(JoinError::StudentNotFound)?;
    if course.joined >= places {
        return Err(JoinError::FullyBooked);
    }
    if student.courses >= max_courses {
        return Err(JoinError::TooManyCourses);
    }
    Ok(StudentJoinedCourse {
        course_id: course.course_id,
        student_id: student.student_id,
    })
}

fn main() {
    let course_id = CourseId::new();
    let student_id = StudentId::new();
    let both = || (CourseCapacity::new(course_id), StudentLoad::new(student_id));

    let query = CourseCapacity::new(course_id).query();
    assert_eq!(query.items().len(), 1);

    given((
        CourseRegistered {
            course_id,
            places: 1,
        },
        StudentRegistered {
            student_id,
            max_courses: 1,
        },
    ))
    .when(both(), join)
    .then(StudentJoinedCourse {
        course_id,
        student_id,
    });

    given(StudentRegistered {
        student_id,
        max_courses: 1,
    })
    .when(both(), join)
    .then_error(&JoinError::CourseNotFound);

    given(CourseRegistered {
        course_id,
        places: 1,
    })
    .when(both(), join)
    .then_error(&JoinError::StudentNotFound);

    let other = StudentId::new();
    given((
        CourseRegistered {
            course_id,
            places: 1,
        },
        StudentRegistered {
            student_id,
            max_courses: 1,
        },
        StudentJoinedCourse {
            course_id,
            student_id: other,
        },
    ))
    .when(both(), join)
    .then_error(&JoinError::FullyBooked);

    given((
        CourseRegistered {
            course_id,
            places: 2,
        },
        StudentRegistered {
            student_id,
            max_courses: 1,
        },
        StudentJoinedCourse {
            course_id: CourseId::new(),
            student_id,
        },
    ))
    .when(both(), join)
    .then_error(&JoinError::TooManyCourses);

    assert_eq!(StudentJoinedCourse::NAME, "StudentJoinedCourse");
}
