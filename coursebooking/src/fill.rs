//! Filling a store with course-booking events in large unconditional
//! batches: `coursebooking fill`, to try the CLI on a large store, and the
//! speedrun's `--prefill`.
//!
//! The events come in groups of 120, the speedrun's iteration: 10 courses,
//! 10 students, and every student of the group joins every course of the
//! group.

use std::time::Instant;

use coursebooking::decisions::{CourseRegistered, StudentJoinedCourse, StudentRegistered};
use coursebooking::{CourseId, StudentId};
use dcb_core::embedded::EmbeddedStore;
use dcb_core::{Event, EventStore, Metadata};
use indicatif::{ProgressBar, ProgressStyle};

use crate::out::{Stop, say};

/// Courses and students in a group.
const SIDE: u64 = 10;
/// Events in a group: its registrations and its joins.
const GROUP: u64 = 2 * SIDE + SIDE * SIDE;
/// Groups in an append.
const GROUPS_PER_APPEND: u64 = 10;

/// How many places a filled course has, and how many courses a filled
/// student may join.
#[derive(Clone, Copy, Debug)]
pub struct Room {
    pub places: u32,
    pub max_courses: u32,
}

impl Room {
    /// The speedrun's: the group's joins fill every course and bring every
    /// student to their limit.
    pub const FULL: Room = Room {
        places: 10,
        max_courses: 10,
    };
    /// `coursebooking fill`'s: after the group's joins, every course has 10
    /// places left and every student may join 10 more courses.
    pub const SPARE: Room = Room {
        places: 20,
        max_courses: 20,
    };
}

/// Students and courses of different groups, from the start of the fill:
/// with [`Room::SPARE`], any of these students may join any of these
/// courses.
#[derive(Debug, Default)]
pub struct Sample {
    pub students: Vec<StudentId>,
    pub courses: Vec<CourseId>,
}

/// Appends `events` events in groups (see the module) of courses with
/// `room`, stamped with `metadata`, in unconditional appends of 1,200
/// events, with a progress bar on stderr. Returns the students of the
/// first group and the courses of the second, as far as they were written.
pub async fn fill<S: EventStore>(
    store: &S,
    events: u64,
    room: Room,
    metadata: &Metadata,
) -> Result<Sample, String> {
    let mut sample = Sample::default();
    if events == 0 {
        return Ok(sample);
    }
    let progress = ProgressBar::new(events);
    progress.set_style(
        ProgressStyle::with_template("filling {bar} {pos}/{len} events ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut written = 0;
    let mut group = 0;
    while written < events {
        let mut batch = Vec::with_capacity(usize::try_from(GROUP * GROUPS_PER_APPEND).unwrap_or(0));
        for _ in 0..GROUPS_PER_APPEND {
            let courses: Vec<CourseId> = (0..SIDE).map(|_| CourseId::new()).collect();
            let students: Vec<StudentId> = (0..SIDE).map(|_| StudentId::new()).collect();
            match group {
                0 => sample.students.clone_from(&students),
                1 => sample.courses.clone_from(&courses),
                _ => {}
            }
            group += 1;
            for (i, &course_id) in courses.iter().enumerate() {
                let name = format!("Course {i}");
                batch.push(
                    CourseRegistered {
                        course_id,
                        name,
                        places: room.places,
                    }
                    .to_event(),
                );
            }
            for (i, &student_id) in students.iter().enumerate() {
                let name = format!("Student {i}");
                batch.push(
                    StudentRegistered {
                        student_id,
                        name,
                        max_courses: room.max_courses,
                    }
                    .to_event(),
                );
            }
            for &student_id in &students {
                for &course_id in &courses {
                    batch.push(
                        StudentJoinedCourse {
                            student_id,
                            course_id,
                        }
                        .to_event(),
                    );
                }
            }
        }
        let batch: Vec<_> = batch
            .into_iter()
            .take(usize::try_from(events - written).unwrap_or(usize::MAX))
            .map(|event| event.map(|event| event.with_metadata(metadata.clone())))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        written += batch.len() as u64;
        store.append(batch, None).await.map_err(|e| e.to_string())?;
        progress.set_position(written);
    }
    progress.finish_and_clear();
    // Only what was written: the first group's students are its events 10
    // to 19, the second group's courses its events 0 to 9.
    let written_of = |first: u64| usize::try_from(events.saturating_sub(first).min(SIDE));
    sample.students.truncate(written_of(SIDE).unwrap_or(0));
    sample.courses.truncate(written_of(GROUP).unwrap_or(0));
    Ok(sample)
}

/// `coursebooking fill --events N`: fills the CLI's store with
/// [`Room::SPARE`] courses and students, then prints what it wrote, how
/// fast, and ids that later commands can use.
pub async fn run(store: &EmbeddedStore, events: u64, metadata: &Metadata) -> Result<(), Stop> {
    let start = Instant::now();
    let sample = fill(store, events, Room::SPARE, metadata).await?;
    let elapsed = start.elapsed();
    let (groups, rest) = (events / GROUP, events % GROUP);
    let courses = groups * SIDE + rest.min(SIDE);
    let students = groups * SIDE + rest.saturating_sub(SIDE).min(SIDE);
    let joins = events - courses - students;
    #[allow(clippy::cast_precision_loss)]
    let rate = events as f64 / elapsed.as_secs_f64().max(1e-9);
    say!(
        "appended {events} events in {:.1} s ({rate:.0} events/s): {courses} courses of {} \
         places, {students} students who may join {} courses, {joins} joins",
        elapsed.as_secs_f64(),
        Room::SPARE.places,
        Room::SPARE.max_courses,
    )?;
    if !sample.students.is_empty() && !sample.courses.is_empty() {
        say!("any of these students may join any of these courses:")?;
    }
    for student in &sample.students {
        say!("student {student}")?;
    }
    for course in &sample.courses {
        say!("course {course}")?;
    }
    Ok(())
}
