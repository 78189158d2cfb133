//! `coursebooking`: the course-booking application on the command line,
//! on an embedded dcb store.

mod demo;
mod fill;
mod out;
mod speedrun;

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Parser, Subcommand, ValueEnum};
use coursebooking::decisions::DcbEnrolment;
use coursebooking::lists::CourseLists;
use coursebooking::{CourseId, Enrolment, EnrolmentError, StudentId, check_name};
use dcb_core::embedded::{EmbeddedOptions, EmbeddedStore, OpenError};
use dcb_core::{Metadata, Uuid};

use crate::out::{Stop, say};

/// Students join courses with limited places; each student may join a
/// limited number of courses. Every command is a decision on an event store
/// kept in --data.
#[derive(Parser, Debug)]
#[command(
    name = "coursebooking",
    version,
    after_help = "Exit status: 0 done; 1 refused by the domain (fully booked, already \
                  joined, ...); 2 bad arguments; 3 the store or the system failed.\n\
                  Diagnostics: set RUST_LOG to see dcb's tracing on stderr, e.g. \
                  RUST_LOG=dcb_core=debug for every decision, read and append, or \
                  RUST_LOG=warn for warnings only; unset, nothing is logged."
)]
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
        #[arg(value_parser = NameParser)]
        name: String,
        /// How many students may join it.
        #[arg(long)]
        places: u32,
    },
    /// Registers a student and prints their id.
    RegisterStudent {
        /// The student's name.
        #[arg(value_parser = NameParser)]
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
        /// Print one JSON object per student, with its id and name.
        #[arg(long)]
        json: bool,
    },
    /// Prints the names of a student's courses, in join order.
    Courses {
        /// The student's id.
        student_id: StudentId,
        /// Print one JSON object per course, with its id and name.
        #[arg(long)]
        json: bool,
    },
    /// Appends N events of registered courses, students and joins, for trying the CLI on a large store.
    ///
    /// Unconditional appends of 1,200 events, in groups of 10 courses (20
    /// places), 10 students (20 courses at most) and every student of the
    /// group joined to every course of it; so each course and student has
    /// room for 10 more joins. Prints a summary, then the ids of 10 students
    /// (`student ID`) and 10 courses (`course ID`) any of whom may join any
    /// of the others: `coursebooking fill --events 1000000 | grep '^student'`.
    Fill {
        /// How many events to append (at least 1).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        events: u64,
    },
    /// Prints a script that completes this command's arguments in a shell.
    ///
    /// For bash: `coursebooking completions bash > ~/.local/share/bash-completion/completions/coursebooking`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Runs the course-booking scenario on a fresh store and prints each step.
    Demo,
    /// Runs the enrolment speedrun (docs/spec.md §4) and prints operations per second.
    ///
    /// Each iteration registers 10 courses and 10 students, then every
    /// student joins every course: 120 decisions. Every run warms up for
    /// one second, then measures for --seconds. The embedded store is
    /// compared with F (4 KiB appends + fdatasync per second on the same
    /// disk), PostgreSQL with I_c (single-row INSERT transactions per
    /// second from c = --clients tasks at once on the same server and
    /// runtime), both measured before and after the run.
    ///
    /// With --clients N, N clients run at once on one store, each a task on
    /// the runtime. --variant disjoint gives each client courses and
    /// students of its own; --variant contended has all of them join the
    /// same 10 courses at a time (5 places per client; each student may
    /// join 5 of the 10), so decisions conflict and are retried, and
    /// afterwards reads the store back and checks that no course is over
    /// its places, no student over their limit and every successful join
    /// is stored exactly once (a violation exits with status 3).
    #[allow(clippy::doc_markdown)]
    Speedrun {
        /// The store to run on.
        #[arg(long, value_enum, default_value_t = StoreKind::Embedded)]
        store: StoreKind,
        /// How long to run, in seconds (at least 1).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        seconds: u64,
        /// Print one JSON object per run (docs/spec.md §5) instead of the summary.
        #[arg(long)]
        json: bool,
        /// How many clients run at once, each a task on the runtime,
        /// sharing one store (1 to 1024).
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_clients)]
        clients: usize,
        /// Which workload the clients run.
        #[arg(long, value_enum, default_value_t = VariantChoice::Disjoint)]
        variant: VariantChoice,
        /// Whether the clients decide from a known state they share (the
        /// states of the decisions they made, kept with the position they
        /// are complete up to), without reading; `both` runs each variant
        /// without and then with it.
        #[arg(long, value_enum, value_name = "WHEN", default_value_t = KnownChoice::Off)]
        known_state: KnownChoice,
        /// Fill the store with this many events of the same shape first, to
        /// see how the speed changes as the store grows.
        #[arg(long, default_value_t = 0)]
        prefill: u64,
        /// The PostgreSQL server for `--store postgres` (a fresh schema is
        /// made there and dropped afterwards) [default:
        /// `postgres://postgres@127.0.0.1:5432/test`].
        #[arg(long, value_name = "URL", env = "DCB_POSTGRES_URL")]
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

/// Whether the speedrun's clients decide from a known state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum KnownChoice {
    /// Every decision reads.
    Off,
    /// The clients share a known state.
    On,
    /// A run without, then one with.
    Both,
}

impl KnownChoice {
    fn runs(self) -> Vec<bool> {
        match self {
            KnownChoice::Off => vec![false],
            KnownChoice::On => vec![true],
            KnownChoice::Both => vec![false, true],
        }
    }
}

/// Which speedrun variants to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum VariantChoice {
    /// Each client on courses and students of its own: no conflicts.
    Disjoint,
    /// All clients on the same courses: conflicts, retries, and a check of
    /// the invariants afterwards.
    Contended,
    /// The disjoint run, then the contended one, each on a fresh store.
    Both,
}

impl VariantChoice {
    fn variants(self) -> Vec<speedrun::Variant> {
        match self {
            VariantChoice::Disjoint => vec![speedrun::Variant::Disjoint],
            VariantChoice::Contended => vec![speedrun::Variant::Contended],
            VariantChoice::Both => vec![speedrun::Variant::Disjoint, speedrun::Variant::Contended],
        }
    }
}

/// Parses `--clients`: a whole number from 1 to [`speedrun::MAX_CLIENTS`].
fn parse_clients(value: &str) -> Result<usize, String> {
    let max = speedrun::MAX_CLIENTS;
    match value.trim().parse::<usize>() {
        Ok(0) => Err("the speedrun needs at least one client: pass --clients 1 or more".to_owned()),
        Ok(n) if n > max => Err(format!(
            "{n} clients are more than the {max} the speedrun runs: pass --clients {max} or fewer"
        )),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "the number of clients must be a whole number from 1 to {max}, e.g. --clients 8"
        )),
    }
}

/// Parses a course or student name by the domain's rule
/// ([`check_name`]), so that clap refuses a bad one as it refuses any bad
/// argument: with the usage and exit status 2, before the store is opened.
/// Unlike clap's own message, this one shows the name escaped: echoed raw,
/// a right-to-left override would reorder the message itself.
#[derive(Clone, Copy, Debug)]
struct NameParser;

impl TypedValueParser for NameParser {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        let arg = arg.map_or_else(|| "NAME".to_owned(), ToString::to_string);
        let refuse = |kind, problem: &dyn std::fmt::Display| {
            cmd.clone()
                .error(kind, format!("invalid value for '{arg}': {problem}"))
        };
        let Some(name) = value.to_str() else {
            return Err(refuse(ErrorKind::InvalidUtf8, &"a name must be UTF-8"));
        };
        check_name(name).map_err(|err| refuse(ErrorKind::ValueValidation, &err))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    dcb_core::inspect::log_from_env();
    if let Err(err) = handle_file_size_limit() {
        return fail(&format!("cannot handle SIGXFSZ: {err}"));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&format!("cannot start the async runtime: {err}")),
    };
    runtime.block_on(run(cli))
}

/// Makes a file-size limit (`ulimit -f`) a write error the store reports,
/// rather than a silent death: by default the kernel kills a process whose
/// write crosses the limit (SIGXFSZ); with a handler of our own in place of
/// that default, the write fails with `EFBIG` ("File too large") instead.
#[cfg(unix)]
fn handle_file_size_limit() -> std::io::Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    // The flag is never read: the handler's only job is to replace the
    // default action.
    signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        Arc::new(AtomicBool::new(false)),
    )
    .map(drop)
}

#[cfg(not(unix))]
#[allow(clippy::unnecessary_wraps)]
fn handle_file_size_limit() -> std::io::Result<()> {
    Ok(())
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "coursebooking", &mut script);
            out::exit_status(
                say!("{}", String::from_utf8_lossy(&script).trim_end()).map_err(Stop::from),
            )
        }
        Command::Demo => demo::run().await,
        Command::Speedrun {
            store,
            seconds,
            json,
            prefill,
            postgres_url,
            clients,
            variant,
            known_state,
        } => {
            #[cfg(not(feature = "postgres"))]
            if store == StoreKind::Postgres {
                return usage(
                    "this coursebooking was built without PostgreSQL; build it with \
                     `cargo run --release -p coursebooking --features postgres -- speedrun --store postgres`",
                );
            }
            let settings = speedrun::Settings {
                kind: store,
                duration: Duration::from_secs(seconds),
                json,
                prefill,
                postgres_url,
                clients,
                variants: variant.variants(),
                known_state: known_state.runs(),
            };
            out::exit_status(speedrun::run(settings).await)
        }
        command => {
            let Some(dir) = cli.data.or_else(default_data_dir) else {
                return usage("no data directory: pass --data DIR");
            };
            if let Command::Students { .. } | Command::Courses { .. } = command {
                return show(&dir, &command).await;
            }
            let bar = indicatif::ProgressBar::new(0);
            let options = EmbeddedOptions::default()
                .lock_timeout(Duration::from_mins(1))
                .on_index_progress(dcb_core::inspect::index_progress(bar.clone()));
            let store_dir = dir.clone();
            let opened =
                tokio::task::spawn_blocking(move || EmbeddedStore::open_with(&store_dir, &options))
                    .await;
            bar.finish_and_clear();
            let store = match opened {
                Ok(Ok(store)) => store,
                Ok(Err(err)) => return open_failed(&err),
                Err(err) => return fail(&format!("opening the store failed: {err}")),
            };
            warn_of_recovery(&store);
            // Every event of this invocation says which command appended it,
            // and shares one correlation id.
            let metadata = Metadata::new()
                .with("command", command_name(&command))
                .with(Metadata::CORRELATION, Uuid::new_v4().to_string());
            if let Command::Fill { events } = command {
                let outcome = fill::run(&store, events, &metadata).await;
                store.close();
                return out::exit_status(outcome);
            }
            let app = DcbEnrolment::new(store).with_metadata(metadata);
            let outcome = execute(&app, command).await;
            app.store().clone().close();
            match outcome {
                Ok(None) => ExitCode::SUCCESS,
                Ok(Some(id)) => out::exit_status(say!("{id}").map_err(Stop::from)),
                // Unreachable from the command line, whose parser checks
                // names first; still a bad argument if it happens.
                Err(err @ EnrolmentError::InvalidName { .. }) => usage(&err.to_string()),
                Err(err) if err.is_refusal() => {
                    let _ = writeln!(std::io::stderr(), "{err}");
                    ExitCode::from(1)
                }
                Err(err) => fail(&err.to_string()),
            }
        }
    }
}

/// The command's name as typed, which its events record in their metadata.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::RegisterCourse { .. } => "register-course",
        Command::RegisterStudent { .. } => "register-student",
        Command::Join { .. } => "join",
        Command::Leave { .. } => "leave",
        Command::Students { .. } => "students",
        Command::Courses { .. } => "courses",
        Command::Fill { .. } => "fill",
        Command::Demo => "demo",
        Command::Speedrun { .. } => "speedrun",
        Command::Completions { .. } => "completions",
    }
}

/// Carries out a command that changes the store; returns the new id a
/// registration prints.
async fn execute(
    app: &DcbEnrolment<EmbeddedStore>,
    command: Command,
) -> Result<Option<String>, EnrolmentError> {
    Ok(match command {
        Command::RegisterCourse { name, places } => {
            Some(app.register_course(&name, places).await?.to_string())
        }
        Command::RegisterStudent { name, max_courses } => {
            Some(app.register_student(&name, max_courses).await?.to_string())
        }
        Command::Join {
            student_id,
            course_id,
        } => {
            app.join_course(student_id, course_id).await?;
            None
        }
        Command::Leave {
            student_id,
            course_id,
        } => {
            app.leave_course(student_id, course_id).await?;
            None
        }
        Command::Students { .. }
        | Command::Courses { .. }
        | Command::Fill { .. }
        | Command::Demo
        | Command::Speedrun { .. }
        | Command::Completions { .. } => None,
    })
}

/// `students` and `courses`: they only read, so they never create a
/// store. A mistyped `--data` is then a bad argument, not a new empty store
/// (issue 21), and the read model is not saved beside a store that does
/// not exist. A store that no other process has open is opened as usual,
/// which is quick at any size (its index is on disk); one in use is
/// opened read-only beside its writer, without an index: the read model
/// reads on from its checkpoint, which scans the log from there once.
async fn show(dir: &Path, command: &Command) -> ExitCode {
    let store_dir = dir.to_owned();
    let bar = indicatif::ProgressBar::new(0);
    let report = dcb_core::inspect::index_progress(bar.clone());
    let opened = tokio::task::spawn_blocking(move || {
        if store_dir.join("LOCK").is_file() {
            let options = EmbeddedOptions::default()
                .lock_timeout(Duration::ZERO)
                .on_index_progress(report);
            match EmbeddedStore::open_with(&store_dir, &options) {
                Err(OpenError::Locked { .. }) => {}
                opened => return opened,
            }
        }
        EmbeddedStore::open_read_only_scanning(&store_dir)
    })
    .await;
    bar.finish_and_clear();
    let store = match opened {
        Ok(Ok(store)) => store,
        Ok(Err(err)) => return open_failed(&err),
        Err(err) => return fail(&format!("opening the store failed: {err}")),
    };
    warn_of_recovery(&store);
    let outcome = show_list(&store, dir, command).await;
    store.close();
    out::exit_status(outcome)
}

/// Prints a list from the [`CourseLists`] read model, brought up to date
/// with the store first (and rebuilt if it does not match the store).
async fn show_list(store: &EmbeddedStore, dir: &Path, command: &Command) -> Result<(), Stop> {
    let storage = CourseLists::file(dir);
    let mut runner = CourseLists::start_runner(store.clone(), storage)
        .await
        .map_err(|err| err.to_string())?;
    runner.catch_up().await.map_err(|err| err.to_string())?;
    let handle = runner.handle();
    let lists = handle.read().await;
    let (entries, json): (Vec<(String, String)>, bool) = match *command {
        Command::Students { course_id, json } => (
            lists
                .students_with_ids(course_id)
                .into_iter()
                .map(|(id, name)| (id.to_string(), name))
                .collect(),
            json,
        ),
        Command::Courses { student_id, json } => (
            lists
                .courses_with_ids(student_id)
                .into_iter()
                .map(|(id, name)| (id.to_string(), name))
                .collect(),
            json,
        ),
        _ => (Vec::new(), false),
    };
    for (id, name) in entries {
        if json {
            say!("{}", serde_json::json!({ "id": id, "name": name }))?;
        } else {
            say!("{name}")?;
        }
    }
    Ok(())
}

/// A store that could not be opened: a `--data` that holds no store (or
/// something else) is a bad argument, exit status 2; anything else is a
/// failure, exit status 3.
fn open_failed(err: &OpenError) -> ExitCode {
    match err {
        OpenError::NoStore { .. }
        | OpenError::NotAStore { .. }
        | OpenError::NotADirectory { .. }
        | OpenError::EmptyPath
        | OpenError::ForeignIndex { .. } => {
            usage(&format!("{err} (check --data or $COURSEBOOKING_DATA)"))
        }
        _ => fail(&err.to_string()),
    }
}

/// Tells the operator on stderr what opening the store cut off (and where
/// it kept it), or left unread.
fn warn_of_recovery(store: &EmbeddedStore) {
    for damage in store.recovery().damage() {
        let _ = writeln!(std::io::stderr(), "warning: {damage}");
    }
}

/// The documented default: the platform's per-user data directory.
fn default_data_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|dir| dir.join("dcb-coursebooking"))
}

/// A failure that is not the domain's — the store, the disk, the runtime:
/// one line, exit status 3, so that a script tells it from a refusal (1).
fn fail(message: &str) -> ExitCode {
    // Not `eprintln!`, which panics if stderr is a closed pipe.
    let _ = writeln!(std::io::stderr(), "error: {message}");
    ExitCode::from(3)
}

/// A usage error: one line, exit status 2.
fn usage(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "error: {message}");
    ExitCode::from(2)
}
