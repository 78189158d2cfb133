//! The `decide` workload: the decide runner with a `#[decision]`
//! projection against a hand-written read–fold–append that does the same
//! work, on two stores filled alike, timed in alternating blocks.

use std::time::{Duration, Instant};

use dcb_core::{
    AppendCondition, Event, EventRecord, EventStore, Id, Identifier, Query, QueryItem, ReadOptions,
    decide, decision,
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::report::Latencies;
use crate::workloads::Rng;

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CourseId(dcb_core::Uuid);

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct StudentId(dcb_core::Uuid);

#[derive(Event, Serialize, Deserialize)]
pub struct CourseRegistered {
    #[tag]
    course_id: CourseId,
    name: String,
    places: u32,
}

#[derive(Event, Serialize, Deserialize)]
pub struct CoursePlacesChanged {
    #[tag]
    course_id: CourseId,
    places: u32,
}

#[derive(Event, Serialize, Deserialize)]
pub struct StudentJoinedCourse {
    #[tag]
    course_id: CourseId,
    #[tag]
    student_id: StudentId,
}

#[derive(Debug)]
pub enum Refusal {
    CourseNotFound,
    FullyBooked,
}

/// The state of a "student joins course" decision.
#[decision]
#[derive(Clone)]
pub struct CourseCapacity {
    #[boundary]
    course_id: CourseId,
    exists: bool,
    places: u32,
    joined: u32,
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

    fn joined(&mut self, _: &StudentJoinedCourse) {
        self.joined += 1;
    }
}

fn join(exists: bool, places: u32, joined: u32) -> Result<(), Refusal> {
    if !exists {
        Err(Refusal::CourseNotFound)
    } else if joined >= places {
        Err(Refusal::FullyBooked)
    } else {
        Ok(())
    }
}

/// One join through the decide runner.
async fn with_runner<S: EventStore>(store: &S, course_id: CourseId, student_id: StudentId) {
    decide(store, CourseCapacity::new(course_id), |state| {
        join(state.exists, state.places, state.joined).map(|()| StudentJoinedCourse {
            course_id,
            student_id,
        })
    })
    .await
    .expect("the join succeeds");
}

/// The same join written by hand against the store: the same query, each
/// folded event decoded into its type as the runner's handlers receive it.
async fn by_hand<S: EventStore>(store: &S, course_id: CourseId, student_id: StudentId) {
    let course_tag = course_id.tag();
    let query = Query::from(
        QueryItem::new()
            .types([
                CourseRegistered::EVENT_TYPE,
                CoursePlacesChanged::EVENT_TYPE,
                StudentJoinedCourse::EVENT_TYPE,
            ])
            .tags([course_tag.clone()]),
    );
    let mut events = store.read(&query, ReadOptions::new()).await.expect("read");
    let (mut exists, mut places, mut joined) = (false, 0, 0);
    while let Some(event) = events.next().await {
        let event = event.expect("read");
        match event.event_type().as_str() {
            "CourseRegistered" => {
                let registered: CourseRegistered =
                    serde_json::from_slice(event.data()).expect("decode");
                exists = true;
                places = registered.places;
            }
            "CoursePlacesChanged" => {
                let changed: CoursePlacesChanged =
                    serde_json::from_slice(event.data()).expect("decode");
                places = changed.places;
            }
            "StudentJoinedCourse" => {
                let _joined: StudentJoinedCourse =
                    serde_json::from_slice(event.data()).expect("decode");
                joined += 1;
            }
            _ => {}
        }
    }
    let head = dcb_core::EventStream::head(&events);
    join(exists, places, joined).expect("the join succeeds");
    let data = serde_json::to_vec(&StudentJoinedCourse {
        course_id,
        student_id,
    })
    .expect("encode");
    let event = EventRecord::new(StudentJoinedCourse::EVENT_TYPE, data)
        .with_tags([course_tag, student_id.tag()]);
    store
        .append(vec![event], Some(AppendCondition::new(query).after(head)))
        .await
        .expect("append");
}

/// Registers `courses` courses with `joins` students each.
pub async fn fill<S: EventStore>(store: &S, courses: &[CourseId], joins: u32) {
    for &course_id in courses {
        let mut events = vec![
            CourseRegistered {
                course_id,
                name: "Dynamic Consistency Boundaries".into(),
                places: u32::MAX,
            }
            .to_event()
            .expect("encode"),
        ];
        for _ in 0..joins {
            let joined = StudentJoinedCourse {
                course_id,
                student_id: StudentId::new(),
            };
            events.push(joined.to_event().expect("encode"));
        }
        store.append(events, None).await.expect("fill");
    }
}

/// Runs `ops` joins on random courses through the runner on `runner_store`
/// and by hand on `hand_store`, alternating blocks so that both see the
/// same machine. Returns (runner, hand-written) latencies and total times.
pub async fn compare<S: EventStore>(
    runner_store: &S,
    hand_store: &S,
    courses: &[CourseId],
    ops: u64,
) -> ((Latencies, Duration), (Latencies, Duration)) {
    const BLOCK: u64 = 1_000;
    let mut rng = Rng::new(7);
    let mut runner = (Latencies::default(), Duration::ZERO);
    let mut hand = (Latencies::default(), Duration::ZERO);
    let mut done = 0;
    while done < ops {
        let block = BLOCK.min(ops - done);
        let picks: Vec<(CourseId, StudentId)> = (0..block)
            .map(|_| {
                let course = courses[usize::try_from(rng.below(courses.len() as u64)).unwrap_or(0)];
                (course, StudentId::new())
            })
            .collect();
        // Alternate which goes first, so neither always meets a warmer cache.
        let runner_first = (done / BLOCK).is_multiple_of(2);
        for turn in [runner_first, !runner_first] {
            for &(course_id, student_id) in &picks {
                let start = Instant::now();
                if turn {
                    with_runner(runner_store, course_id, student_id).await;
                } else {
                    by_hand(hand_store, course_id, student_id).await;
                }
                let elapsed = start.elapsed();
                let (latencies, total) = if turn { &mut runner } else { &mut hand };
                latencies.push(elapsed);
                *total += elapsed;
            }
        }
        done += block;
    }
    (runner, hand)
}
