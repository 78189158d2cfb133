//! `coursebooking`: the course-booking application on the command line,
//! on an embedded dcb store.

mod demo;
mod speedrun;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use coursebooking::decisions::DcbEnrolment;
use coursebooking::lists::CourseLists;
use coursebooking::{CourseId, Enrolment, EnrolmentError, StudentId};
use dcb_core::embedded::{EmbeddedOptions, EmbeddedStore};
use dcb_core::read_model::Runner;

/// Students join courses with limited places; each student may join a
/// limited number of courses. Every command is a decision on an event store
/// kept in `--data`.
#[derive(Parser, Debug)]
#[command(name = "coursebooking", version)]
struct Cli {
    /// The store's directory [default: the per-user data directory, e.g.
    /// ~/.local/share/dcb-coursebooking on Linux]
    #[arg(long, global = true, value_name = "DIR", env = "COURSEBOOKING_DATA")]
    data: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Registers a course and prints its id.
    RegisterCourse {
        /// The course's name.
        name: String,
        /// How many students may join it.
        #[arg(long)]
        places: u32,
    },
    /// Registers a student and prints their id.
    RegisterStudent {
        /// The student's name.
        name: String,
        /// How many courses they may join.
        #[arg(long)]
        max_courses: u32,
    },
    /// A student joins a course.
    Join {
        /// The student's id.
        student_id: StudentId,
        /// The course's id.
        course_id: CourseId,
    },
    /// A student leaves a course.
    Leave {
        /// The student's id.
        student_id: StudentId,
        /// The course's id.
        course_id: CourseId,
    },
    /// Prints the names of a course's students, in join order.
    Students {
        /// The course's id.
        course_id: CourseId,
    },
    /// Prints the names of a student's courses, in join order.
    Courses {
        /// The student's id.
        student_id: StudentId,
    },
    /// Runs the course-booking scenario on a fresh store and prints each step.
    Demo,
    /// Runs the enrolment speedrun (SPEC §4) and prints operations per second.
    Speedrun {
        /// The store to run on.
        #[arg(long, value_enum, default_value_t = StoreKind::Embedded)]
        store: StoreKind,
        /// How long to run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Print one JSON object (SPEC §5) instead of the summary.
        #[arg(long)]
        json: bool,
        /// Fill the store with this many events of the same shape first, to
        /// see how the speed changes as the store grows.
        #[arg(long, default_value_t = 0)]
        prefill: u64,
        /// The PostgreSQL server for `--store postgres` (a fresh schema is
        /// made there and dropped afterwards) [default: `DCB_POSTGRES_URL`,
        /// else `postgres://postgres@127.0.0.1:5432/test`].
        #[arg(long)]
        postgres_url: Option<String>,
    },
}

/// A store to run the speedrun on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum StoreKind {
    /// The in-memory store.
    Memory,
    /// The embedded durable store (in a fresh temporary directory).
    Embedded,
    /// The `PostgreSQL` store (in a fresh schema, dropped afterwards).
    Postgres,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&format!("cannot start the async runtime: {err}")),
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Demo => demo::run().await,
        Command::Speedrun {
            store,
            seconds,
            json,
            prefill,
            postgres_url,
        } => {
            speedrun::run(
                store,
                Duration::from_secs(seconds),
                json,
                prefill,
                postgres_url,
            )
            .await
        }
        command => {
            let Some(dir) = cli.data.or_else(default_data_dir) else {
                return usage("no data directory: pass --data DIR");
            };
            let options = EmbeddedOptions::default().lock_timeout(Duration::from_secs(60));
            let store_dir = dir.clone();
            let store = match tokio::task::spawn_blocking(move || {
                EmbeddedStore::open_with(&store_dir, &options)
            })
            .await
            {
                Ok(Ok(store)) => store,
                Ok(Err(err)) => return fail(&err.to_string()),
                Err(err) => return fail(&format!("opening the store failed: {err}")),
            };
            if let Command::Students { .. } | Command::Courses { .. } = command {
                let outcome = show_list(&store, &dir, &command).await;
                store.close();
                return outcome.map_or_else(|err| fail(&err), |()| ExitCode::SUCCESS);
            }
            let app = DcbEnrolment::new(store);
            let outcome = execute(&app, command).await;
            app.store().clone().close();
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) if err.is_refusal() => {
                    eprintln!("{err}");
                    ExitCode::from(1)
                }
                Err(err) => fail(&err.to_string()),
            }
        }
    }
}

async fn execute(
    app: &DcbEnrolment<EmbeddedStore>,
    command: Command,
) -> Result<(), EnrolmentError> {
    match command {
        Command::RegisterCourse { name, places } => {
            println!("{}", app.register_course(&name, places).await?);
        }
        Command::RegisterStudent { name, max_courses } => {
            println!("{}", app.register_student(&name, max_courses).await?);
        }
        Command::Join {
            student_id,
            course_id,
        } => app.join_course(student_id, course_id).await?,
        Command::Leave {
            student_id,
            course_id,
        } => app.leave_course(student_id, course_id).await?,
        Command::Students { .. }
        | Command::Courses { .. }
        | Command::Demo
        | Command::Speedrun { .. } => {}
    }
    Ok(())
}

/// Prints a list from the [`CourseLists`] read model, brought up to date
/// with the store first.
async fn show_list(store: &EmbeddedStore, dir: &Path, command: &Command) -> Result<(), String> {
    let storage = CourseLists::file(dir);
    let mut runner = Runner::<_, CourseLists, _>::start(store.clone(), storage)
        .await
        .map_err(|err| err.to_string())?;
    runner.catch_up().await.map_err(|err| err.to_string())?;
    let handle = runner.handle();
    let lists = handle.read().await;
    let names = match *command {
        Command::Students { course_id } => lists.students_of(course_id),
        Command::Courses { student_id } => lists.courses_of(student_id),
        _ => Vec::new(),
    };
    for name in names {
        println!("{name}");
    }
    Ok(())
}

/// The documented default: the platform's per-user data directory.
fn default_data_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|dir| dir.join("dcb-coursebooking"))
}

/// A failure that is not the domain's: one line, exit status 1.
fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

/// A usage error: one line, exit status 2.
fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}
