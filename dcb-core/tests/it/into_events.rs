//! `#[derive(IntoEvents)]`: a command returns one of several outcomes, an
//! enum whose variants hold events, and the decide runner appends whichever
//! it is.

use dcb_core::{
    Event, EventStore, Id, InMemoryStore, IntoEvents, Query, ReadOptions, decide, decision,
};
use serde::{Deserialize, Serialize};

use crate::support::block_on;

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CourseId(dcb_core::Uuid);

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct StudentId(dcb_core::Uuid);

#[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
struct StudentJoined {
    #[tag]
    course_id: CourseId,
    #[tag]
    student_id: StudentId,
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
struct StudentWaitlisted {
    #[tag]
    course_id: CourseId,
    #[tag]
    student_id: StudentId,
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
struct CourseFilled {
    #[tag]
    course_id: CourseId,
}

/// What a request to join comes to: each variant's events are appended.
#[derive(IntoEvents)]
enum JoinOutcome {
    Joined(StudentJoined),
    /// The last place: two events.
    JoinedLast((StudentJoined, CourseFilled)),
    Waitlisted(StudentWaitlisted),
    /// Already in: nothing to append.
    AlreadyIn(()),
}

#[decision]
struct Places {
    #[boundary]
    course_id: CourseId,
    joined: Vec<StudentId>,
    waiting: usize,
}

#[decision]
impl Places {
    fn joined(&mut self, event: &StudentJoined) {
        self.joined.push(event.student_id);
    }

    fn waitlisted(&mut self, _: &StudentWaitlisted) {
        self.waiting += 1;
    }
}

const PLACES: usize = 2;
const WAITING_LIST: usize = 1;

#[derive(Debug, PartialEq)]
struct WaitingListFull;

fn join(places: &Places, student_id: StudentId) -> Result<JoinOutcome, WaitingListFull> {
    let course_id = places.course_id;
    if places.joined.len() >= PLACES && places.waiting >= WAITING_LIST {
        return Err(WaitingListFull);
    }
    let joined = StudentJoined {
        course_id,
        student_id,
    };
    Ok(if places.joined.contains(&student_id) {
        JoinOutcome::AlreadyIn(())
    } else if places.joined.len() + 1 < PLACES {
        JoinOutcome::Joined(joined)
    } else if places.joined.len() + 1 == PLACES {
        JoinOutcome::JoinedLast((joined, CourseFilled { course_id }))
    } else {
        JoinOutcome::Waitlisted(StudentWaitlisted {
            course_id,
            student_id,
        })
    })
}

#[test]
fn the_runner_appends_the_events_of_whichever_variant_the_command_returns() {
    block_on(async {
        let store = InMemoryStore::new();
        let course_id = CourseId::new();
        let (ada, alan, grace) = (StudentId::new(), StudentId::new(), StudentId::new());
        for student_id in [ada, ada, alan, grace] {
            decide(&store, Places::new(course_id), |places| {
                join(places, student_id)
            })
            .await
            .unwrap();
        }
        let stored = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .unwrap()
            .events;
        let types: Vec<&str> = stored.iter().map(|e| e.event_type().as_str()).collect();
        assert_eq!(
            types,
            [
                StudentJoined::NAME,
                StudentJoined::NAME,
                CourseFilled::NAME,
                StudentWaitlisted::NAME,
            ]
        );
        assert_eq!(
            StudentJoined::from_event(&stored[1]).unwrap(),
            StudentJoined {
                course_id,
                student_id: alan
            }
        );
        assert_eq!(
            StudentWaitlisted::from_event(&stored[3]).unwrap(),
            StudentWaitlisted {
                course_id,
                student_id: grace
            }
        );
        let refused = decide(&store, Places::new(course_id), |places| {
            join(places, StudentId::new())
        })
        .await;
        assert_eq!(refused.unwrap_err().rejected(), Some(WaitingListFull));
        assert_eq!(store.len(), 4);
    });
}
