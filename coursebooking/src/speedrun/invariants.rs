//! The contended speedrun's invariants, checked by reading the store back
//! after the run — not from the clients' own counters, which a store that
//! lost or doubled an append would not contradict:
//!
//! - no course ever has more students than places;
//! - no student ever has joined more courses than allowed;
//! - every join a client saw succeed is stored exactly once, and every
//!   stored join on the run's courses is one a client saw succeed.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use coursebooking::decisions::{
    CoursePlacesChanged, CourseRegistered, StudentJoinedCourse, StudentLeftCourse,
    StudentMaxCoursesChanged, StudentRegistered,
};
use coursebooking::{CourseId, StudentId};
use dcb_core::{Event, EventStore, Position, Query, QueryItem, ReadOptions, SequencedEvent};

/// How many events one read of the check returns, so that memory stays
/// bounded on a prefilled store.
const PAGE: usize = 10_000;

/// A join: the student and the course.
pub type Join = (StudentId, CourseId);

/// What the check found. Every list is empty when the invariants hold.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Invariants {
    /// Events read back.
    pub events_checked: u64,
    /// Courses that had more students than places at some point, with the
    /// most students they had and their places then.
    pub courses_over_places: Vec<(CourseId, u32, u32)>,
    /// Students who had joined more courses than allowed at some point,
    /// with the most courses and their limit then.
    pub students_over_limit: Vec<(StudentId, u32, u32)>,
    /// Joins a client saw succeed that are not stored.
    pub joins_missing: Vec<Join>,
    /// Joins stored more than once (without a leave between), with how
    /// many times.
    pub joins_duplicated: Vec<(Join, u32)>,
    /// Joins stored on the run's courses that no client saw succeed.
    pub joins_unacknowledged: Vec<Join>,
}

impl Invariants {
    /// How many violations were found, of every kind.
    pub fn violations(&self) -> usize {
        self.courses_over_places.len()
            + self.students_over_limit.len()
            + self.joins_missing.len()
            + self.joins_duplicated.len()
            + self.joins_unacknowledged.len()
    }

    /// The counts, as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "events_checked": self.events_checked,
            "courses_over_places": self.courses_over_places.len(),
            "students_over_limit": self.students_over_limit.len(),
            "joins_missing": self.joins_missing.len(),
            "joins_duplicated": self.joins_duplicated.len(),
            "joins_unacknowledged": self.joins_unacknowledged.len(),
        })
    }

    /// One line for the summary, naming the first violation of each kind.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "invariants, read back from {} stored events: {} violation(s): \
             {} course(s) over their places, {} student(s) over their limit, \
             {} acknowledged join(s) missing, {} join(s) stored twice, \
             {} stored join(s) no client saw succeed",
            self.events_checked,
            self.violations(),
            self.courses_over_places.len(),
            self.students_over_limit.len(),
            self.joins_missing.len(),
            self.joins_duplicated.len(),
            self.joins_unacknowledged.len(),
        );
        if let Some((course, most, places)) = self.courses_over_places.first() {
            let _ = write!(
                text,
                "\n  course {course} had {most} students for {places} places"
            );
        }
        if let Some((student, most, limit)) = self.students_over_limit.first() {
            let _ = write!(
                text,
                "\n  student {student} had joined {most} courses for a limit of {limit}"
            );
        }
        if let Some((student, course)) = self.joins_missing.first() {
            let _ = write!(
                text,
                "\n  student {student} joining course {course} succeeded but is not stored"
            );
        }
        if let Some(((student, course), times)) = self.joins_duplicated.first() {
            let _ = write!(
                text,
                "\n  student {student} joining course {course} is stored {times} times"
            );
        }
        if let Some((student, course)) = self.joins_unacknowledged.first() {
            let _ = write!(
                text,
                "\n  student {student} joining course {course} is stored, but no client saw it succeed"
            );
        }
        text
    }
}

/// A course's or a student's state while the events are folded.
#[derive(Default)]
struct Capacity {
    limit: u32,
    joined: u32,
    most: u32,
    limit_at_most: u32,
}

impl Capacity {
    fn join(&mut self) {
        self.joined += 1;
        if self.joined > self.limit && self.joined > self.most {
            self.most = self.joined;
            self.limit_at_most = self.limit;
        }
    }

    fn leave(&mut self) {
        self.joined = self.joined.saturating_sub(1);
    }

    fn over(&self) -> Option<(u32, u32)> {
        (self.most > 0).then_some((self.most, self.limit_at_most))
    }
}

/// Reads every registration, change and join of `store` back, in order,
/// and checks the invariants (see the module) against `acknowledged`, the
/// joins the clients saw succeed, and `courses`, the courses the run
/// registered.
pub async fn check<S: EventStore>(
    store: &S,
    acknowledged: &[Join],
    courses: &HashSet<CourseId>,
) -> Result<Invariants, String> {
    let types = [
        CourseRegistered::EVENT_TYPE,
        CoursePlacesChanged::EVENT_TYPE,
        StudentRegistered::EVENT_TYPE,
        StudentMaxCoursesChanged::EVENT_TYPE,
        StudentJoinedCourse::EVENT_TYPE,
        StudentLeftCourse::EVENT_TYPE,
    ];
    let query = Query::from_items([QueryItem::new().types(types)]);
    let mut fold = Fold::default();
    let mut after: Option<Position> = None;
    loop {
        let page = store
            .read_to_end(&query, ReadOptions::new().after(after).limit(PAGE))
            .await
            .map_err(|err| format!("reading the store back to check the invariants: {err}"))?;
        for event in &page.events {
            fold.apply(event)
                .map_err(|err| format!("checking the invariants: {err}"))?;
        }
        match page.events.last() {
            Some(last) if page.events.len() == PAGE => after = Some(last.position),
            _ => break,
        }
    }
    Ok(fold.finish(acknowledged, courses))
}

#[derive(Default)]
struct Fold {
    events: u64,
    courses: HashMap<CourseId, Capacity>,
    students: HashMap<StudentId, Capacity>,
    /// Per join: whether the student is in the course now, and how many
    /// join events it has (a join while already in the course counts).
    members: HashMap<Join, (bool, u32)>,
    duplicated: HashMap<Join, u32>,
}

impl Fold {
    fn apply(&mut self, event: &SequencedEvent) -> Result<(), dcb_core::DecodeError> {
        self.events += 1;
        match event.event_type().as_str() {
            CourseRegistered::NAME => {
                let e = CourseRegistered::from_event(event)?;
                self.courses.entry(e.course_id).or_default().limit = e.places;
            }
            CoursePlacesChanged::NAME => {
                let e = CoursePlacesChanged::from_event(event)?;
                self.courses.entry(e.course_id).or_default().limit = e.places;
            }
            StudentRegistered::NAME => {
                let e = StudentRegistered::from_event(event)?;
                self.students.entry(e.student_id).or_default().limit = e.max_courses;
            }
            StudentMaxCoursesChanged::NAME => {
                let e = StudentMaxCoursesChanged::from_event(event)?;
                self.students.entry(e.student_id).or_default().limit = e.max_courses;
            }
            StudentJoinedCourse::NAME => {
                let e = StudentJoinedCourse::from_event(event)?;
                let join = (e.student_id, e.course_id);
                let member = self.members.entry(join).or_default();
                member.1 += 1;
                if member.0 {
                    // Already in the course: stored twice. It does not
                    // take a second place.
                    *self.duplicated.entry(join).or_insert(1) += 1;
                } else {
                    member.0 = true;
                    self.courses.entry(e.course_id).or_default().join();
                    self.students.entry(e.student_id).or_default().join();
                }
            }
            StudentLeftCourse::NAME => {
                let e = StudentLeftCourse::from_event(event)?;
                let join = (e.student_id, e.course_id);
                if let Some(member) = self.members.get_mut(&join)
                    && member.0
                {
                    member.0 = false;
                    self.courses.entry(e.course_id).or_default().leave();
                    self.students.entry(e.student_id).or_default().leave();
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(self, acknowledged: &[Join], courses: &HashSet<CourseId>) -> Invariants {
        let mut invariants = Invariants {
            events_checked: self.events,
            ..Invariants::default()
        };
        for (&course, capacity) in &self.courses {
            if let Some((most, places)) = capacity.over() {
                invariants.courses_over_places.push((course, most, places));
            }
        }
        for (&student, capacity) in &self.students {
            if let Some((most, limit)) = capacity.over() {
                invariants.students_over_limit.push((student, most, limit));
            }
        }
        let mut seen = HashSet::with_capacity(acknowledged.len());
        for &join in acknowledged {
            if !seen.insert(join) {
                // A client saw this join succeed twice: the store accepted
                // a join the student had already made.
                let times = self.members.get(&join).map_or(0, |m| m.1);
                if !self.duplicated.contains_key(&join) {
                    invariants.joins_duplicated.push((join, times));
                }
                continue;
            }
            if !self.members.contains_key(&join) {
                invariants.joins_missing.push(join);
            }
        }
        invariants.joins_duplicated.extend(self.duplicated);
        for &join in self.members.keys() {
            if courses.contains(&join.1) && !seen.contains(&join) {
                invariants.joins_unacknowledged.push(join);
            }
        }
        invariants.courses_over_places.sort();
        invariants.students_over_limit.sort();
        invariants.joins_missing.sort();
        invariants.joins_duplicated.sort();
        invariants.joins_unacknowledged.sort();
        invariants
    }
}

#[cfg(test)]
mod tests {
    use coursebooking::decisions::{CourseRegistered, StudentJoinedCourse, StudentRegistered};
    use dcb_core::{Event, EventStore, InMemoryStore};

    use super::*;

    /// A store with a course of `places` places, `students` students who
    /// may join `max_courses` courses, and the `joins` given (by index),
    /// appended without conditions, as a broken store might have accepted
    /// them.
    async fn store_with(
        places: u32,
        max_courses: u32,
        students: usize,
        joins: &[(usize, usize)],
        courses: usize,
    ) -> (InMemoryStore, Vec<StudentId>, Vec<CourseId>) {
        let store = InMemoryStore::new();
        let course_ids: Vec<CourseId> = (0..courses).map(|_| CourseId::new()).collect();
        let student_ids: Vec<StudentId> = (0..students).map(|_| StudentId::new()).collect();
        let mut events = Vec::new();
        for &course_id in &course_ids {
            let name = "Maths".to_owned();
            events.push(
                CourseRegistered {
                    course_id,
                    name,
                    places,
                }
                .to_event()
                .unwrap(),
            );
        }
        for &student_id in &student_ids {
            let name = "Ada".to_owned();
            let registered = StudentRegistered {
                student_id,
                name,
                max_courses,
            };
            events.push(registered.to_event().unwrap());
        }
        for &(s, c) in joins {
            let joined = StudentJoinedCourse {
                student_id: student_ids[s],
                course_id: course_ids[c],
            };
            events.push(joined.to_event().unwrap());
        }
        store.append(events, None).await.unwrap();
        (store, student_ids, course_ids)
    }

    #[tokio::test]
    async fn a_course_over_its_places_is_a_violation() {
        let (store, students, courses) = store_with(1, 5, 2, &[(0, 0), (1, 0)], 1).await;
        let acknowledged = [(students[0], courses[0]), (students[1], courses[0])];
        let run: HashSet<CourseId> = courses.iter().copied().collect();
        let found = check(&store, &acknowledged, &run).await.unwrap();
        assert_eq!(found.courses_over_places, vec![(courses[0], 2, 1)]);
        assert_eq!(found.violations(), 1, "{}", found.summary());
        assert_eq!(found.events_checked, 5);
        assert!(found.summary().contains("had 2 students for 1 places"));
        assert_eq!(found.to_json()["courses_over_places"], 1);

        // The same joins with room for both: nothing to report.
        let (store, students, courses) = store_with(2, 5, 2, &[(0, 0), (1, 0)], 1).await;
        let acknowledged = [(students[0], courses[0]), (students[1], courses[0])];
        let run: HashSet<CourseId> = courses.iter().copied().collect();
        let found = check(&store, &acknowledged, &run).await.unwrap();
        assert_eq!(
            found,
            Invariants {
                events_checked: 5,
                ..Invariants::default()
            }
        );
    }

    #[tokio::test]
    async fn a_student_over_their_limit_is_a_violation() {
        let (store, students, courses) = store_with(5, 1, 1, &[(0, 0), (0, 1)], 2).await;
        let acknowledged = [(students[0], courses[0]), (students[0], courses[1])];
        let run: HashSet<CourseId> = courses.iter().copied().collect();
        let found = check(&store, &acknowledged, &run).await.unwrap();
        assert_eq!(found.students_over_limit, vec![(students[0], 2, 1)]);
        assert_eq!(found.violations(), 1, "{}", found.summary());
    }

    #[tokio::test]
    async fn joins_stored_twice_missing_or_unacknowledged_are_violations() {
        // Student 0 joined course 0 twice; student 1's join of course 0 was
        // acknowledged but is not stored; student 2's is stored but was
        // never acknowledged.
        let (store, students, courses) = store_with(5, 5, 3, &[(0, 0), (0, 0), (2, 0)], 1).await;
        let acknowledged = [(students[0], courses[0]), (students[1], courses[0])];
        let run: HashSet<CourseId> = courses.iter().copied().collect();
        let found = check(&store, &acknowledged, &run).await.unwrap();
        assert_eq!(found.joins_duplicated, vec![((students[0], courses[0]), 2)]);
        assert_eq!(found.joins_missing, vec![(students[1], courses[0])]);
        assert_eq!(found.joins_unacknowledged, vec![(students[2], courses[0])]);
        assert!(found.courses_over_places.is_empty() && found.students_over_limit.is_empty());
        assert_eq!(found.violations(), 3, "{}", found.summary());

        // A join on a course the run did not make (a prefilled one) need
        // not be acknowledged.
        let found = check(&store, &acknowledged, &HashSet::new()).await.unwrap();
        assert!(found.joins_unacknowledged.is_empty());
    }
}
