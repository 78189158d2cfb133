//! The store inspector `dcb` (feature `inspect`): a command line that shows
//! a store's head, prints its events as JSON lines, and follows new ones.
//!
//! Event data is opaque bytes to a store; the inspector shows it as JSON
//! through the [`registry`](crate::domain::registry) of the `#[derive(Event)]` types
//! *linked into the running binary*. So an application builds its own
//! inspector, in one line, in a binary of the crate that defines its events:
//!
//! ```no_run
//! // src/bin/dcb.rs
//! use std::process::ExitCode;
//!
//! fn main() -> ExitCode {
//!     dcb_core::inspect::main()
//! }
//! ```
//!
//! (If the binary uses nothing else of the crate, the linker may leave the
//! crate out, and its registrations with it: referring to any item of it, as
//! `let _ = my_app::SomeEvent::EVENT_TYPE;` does, keeps it in.)
//!
//! # Usage
//!
//! ```text
//! dcb --store <DIR|URL> head
//! dcb --store <DIR|URL> read [--type T]… [--tag K]… [--after P] [--limit N] [--backwards]
//! dcb --store <DIR|URL> tail [--type T]… [--tag K]… [--after P | --from-start]
//! dcb --store <DIR|URL> types [--type T]… [--tag K]… [--unregistered]
//! dcb [--schema S] migrations [--after V]
//! ```
//!
//! - `--store` (or the environment variable `DCB_STORE`) is an embedded
//!   store's directory, or a PostgreSQL URL starting with `postgres://` or
//!   `postgresql://`, with `--schema` (default `dcb`). A PostgreSQL schema
//!   is never created or migrated. A directory is opened in one of two ways:
//!   - `head`, `read`, `chain` and `types` open a store that no other
//!     process has open as the application does, through its index on
//!     disk: in milliseconds and bounded memory at any size. They hold the
//!     store's lock until they exit, so an application opening the store
//!     meanwhile waits for them, up to its
//!     [lock timeout](crate::store::embedded::EmbeddedOptions::lock_timeout).
//!     Such an open is the application's own: it may index the log's tail
//!     and cut off a damaged end of the log (keeping the bytes, and saying
//!     so on standard error), as the application's next open would.
//!   - `tail`, and every command on a store that another process has open,
//!     open it read-only and without an index
//!     ([`open_read_only_scanning`](crate::store::embedded::EmbeddedStore::open_read_only_scanning)):
//!     no lock is taken and no file changed, so the application keeps
//!     running, and memory stays small at any size; each command scans the
//!     log for what it reads, so `read --tag` of a large store takes as long
//!     as reading its log, while `head`, `tail` and reading from a position
//!     on cost what they print.
//! - Several `--type`s select events of any of these types; several `--tag`s
//!   select events carrying all of these tags; both together select events
//!   of one of the types carrying all the tags. No filter selects every event.
//! - `head` prints the position of the last event, or `none` for an empty
//!   store.
//! - `read` streams the matching events, oldest first (newest first with
//!   `--backwards`), so it prints any number of them in constant memory.
//! - `tail` prints each matching event as it is appended, until interrupted.
//!   It starts at the store's head, after `--after P`, or with
//!   `--from-start` at the first event, printing the stored matches first;
//!   it says where it started on standard error.
//! - `types` prints each event type among the matching events, one JSON
//!   object per line sorted by type, with its number of events and the
//!   Rust type registered for it in this binary, or `null` when no single
//!   registered type decodes it:
//!   `{"type":"CourseRegistered","events":2,"registered_as":"app::CourseRegistered"}`.
//!   With `--unregistered` it prints only those with `null`: events stored
//!   under a name that no type has — as after a rename that did not pin
//!   the old name with `#[event(name = "…")]`, which a
//!   [lock of the stored names](crate::event_lock) prevents. It reads every
//!   matching event, keeping one count per type.
//! - `migrations` prints the SQL that creates a PostgreSQL store in the
//!   schema `--schema`, or brings it up from migration `--after V`, for
//!   operators who apply migrations with tools of their own
//!   (`postgres::migration_script`); it opens no
//!   store.
//!
//! Each event is one JSON object on one line:
//!
//! ```text
//! {"position":7,"type":"StudentJoinedCourse","tags":["course:…","student:…"],"id":null,"data":{…}}
//! ```
//!
//! `data` is the event decoded through its registered type. Data of a type
//! that no Rust type in the binary is registered for comes as
//! `"data_base64"` (the raw bytes, standard base64) instead; data that its
//! registered type cannot decode comes as `"data_base64"` with a
//! `"decode_error"` saying why. Neither stops the listing.
//!
//! # Exit status
//!
//! | status | meaning |
//! |---|---|
//! | 0 | done, or standard output was closed (as by `dcb read … \| head`) |
//! | 2 | a usage error: a bad argument, no store given, a directory or PostgreSQL schema that holds no store, an invalid URL |
//! | 3 | the store failed: unreachable server, damaged log, failed read, no event at a position |
//!
//! Every error is one line on standard error.
//!
//! # Example
//!
//! [`main_with_args`] runs the command line on given arguments:
//!
//! ```
//! use std::process::ExitCode;
//! use dcb_core::embedded::EmbeddedStore;
//! use dcb_core::{EventRecord, EventStore, EventType};
//!
//! let dir = std::env::temp_dir().join(format!("dcb-doc-{}", dcb_core::Uuid::new_v4()));
//! let store = EmbeddedStore::open(&dir)?;
//! let opened = EventRecord::new(EventType::from_static("Opened"), "{}");
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! store.append(vec![opened], None).await?;
//! # Ok::<(), dcb_core::AppendError>(())
//! # })?;
//!
//! // Prints {"position":1,"recorded_at":"2026-12-05T12:00:00.000000Z","type":"Opened",
//! //   "tags":[],"id":null,"data_base64":"e30="}, with the time of the append.
//! let dir = dir.to_str().unwrap();
//! let status = dcb_core::inspect::main_with_args(["dcb", "read", "--store", dir]);
//! assert_eq!(status, ExitCode::SUCCESS);
//! let status = dcb_core::inspect::main_with_args(["dcb", "read", "--store", dir, "--limit", "0"]);
//! assert_eq!(status, ExitCode::from(2));
//! # drop(store);
//! # std::fs::remove_dir_all(dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cli;
mod log;
mod open;
mod output;
mod progress;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;
use futures_util::StreamExt;

use self::cli::{Cli, Command, StoreCommand};
pub use self::log::log_from_env;
pub use self::progress::index_progress;
use crate::model::error::ReadError;
use crate::{EventStore, Position, Query, ReadOptions};

/// Runs the inspector on the process's arguments, with `RUST_LOG`
/// ([`log_from_env`]); see the [module](self).
#[must_use]
pub fn main() -> ExitCode {
    log_from_env();
    main_with_args(std::env::args_os())
}

/// Runs the inspector on `args`, the first of which is the program's name.
///
/// It runs its own async runtime, so call it outside of one.
#[must_use]
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version are "errors" too, printed to stdout, status 0.
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    match run(cli) {
        Ok(()) | Err(Failure::Closed) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Store(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(3)
        }
    }
}

/// Why a command stopped early.
#[derive(Debug)]
enum Failure {
    /// A usage error: exit status 2.
    Usage(String),
    /// The store failed: exit status 3, as for the course-booking CLI
    /// (whose 1 is a refusal of the domain).
    Store(String),
    /// Standard output was closed: nobody reads any more, exit status 0.
    Closed,
}

impl From<ReadError> for Failure {
    fn from(err: ReadError) -> Failure {
        Failure::Store(describe(&err))
    }
}

/// The error's message followed by those of its causes that it does not
/// already include: "connection refused" is worth a line's length.
fn describe(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        let text = err.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        cause = err.source();
    }
    message
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Failure {
        if err.kind() == io::ErrorKind::BrokenPipe {
            Failure::Closed
        } else {
            Failure::Store(format!("cannot write to standard output: {err}"))
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let command = match cli.command {
        Command::Store(command) => command,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            // Into memory first: the generator panics on a write error,
            // such as a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "dcb", &mut script);
            let mut out = io::stdout().lock();
            out.write_all(&script)?;
            out.flush()?;
            return Ok(());
        }
        #[cfg(feature = "postgres")]
        Command::Migrations { after } => {
            return print_script(crate::store::postgres::migration_script(&cli.schema, after));
        }
        #[cfg(feature = "postgres")]
        Command::Grants { role } => {
            return print_script(crate::store::postgres::grant_script(&cli.schema, &role));
        }
    };
    let Some(store) = cli.store else {
        return Err(Failure::Usage(
            "no store given: pass --store DIR|URL or set DCB_STORE".to_owned(),
        ));
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Store(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let access = match command {
            StoreCommand::Tail { .. } => open::Access::Follow,
            _ => open::Access::Once,
        };
        let store = open::open(&store, &cli.schema, access).await?;
        let executed = execute(store.clone(), command).await;
        store.close();
        executed
    })
}

/// Prints a script of SQL, or says why there is none.
#[cfg(feature = "postgres")]
fn print_script(
    script: Result<String, crate::store::postgres::ConnectError>,
) -> Result<(), Failure> {
    let script = script.map_err(|e| Failure::Usage(e.to_string()))?;
    let mut out = io::stdout().lock();
    out.write_all(script.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Prints the events `filter` selects, after `after`, at most `limit`,
/// newest first if `backwards`.
async fn read<S: EventStore>(
    store: &S,
    filter: &cli::Filter,
    after: Option<Position>,
    limit: Option<usize>,
    backwards: bool,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let mut options = ReadOptions::new().after(after);
    if backwards {
        options = options.backwards();
    }
    if let Some(limit) = limit
        && !filter.has_period()
    {
        options = options.limit(limit);
    }
    let mut events = store.read(&filter.query(), options).await?;
    let mut shown = 0;
    while let Some(event) = events.next().await {
        let event = event?;
        // Times never decrease along positions: past the period's end (or,
        // backwards, before its start) nothing more is in it.
        let past = if backwards {
            filter
                .since
                .is_some_and(|since| event.recorded_at < Some(since))
        } else {
            filter
                .until
                .is_some_and(|until| event.recorded_at >= Some(until))
        };
        if past {
            break;
        }
        if filter.in_period(event.recorded_at) {
            output::write_event(out, &event)?;
            shown += 1;
            if limit.is_some_and(|limit| shown >= limit) {
                break;
            }
        }
    }
    Ok(())
}

/// Prints the event at `position` and, newest first, each event that
/// caused the one before (its metadata's causation).
async fn chain<S: EventStore>(
    store: &S,
    position: Position,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let mut next = Some(position);
    while let Some(position) = next {
        let before = Position::new(position.get() - 1);
        let read = store
            .read_to_end(&Query::all(), ReadOptions::new().after(before).limit(1))
            .await?;
        let Some(event) = read.events.into_iter().find(|e| e.position == position) else {
            return Err(Failure::Store(format!(
                "the store holds no event at position {position}"
            )));
        };
        output::write_event(out, &event)?;
        next = event.metadata().causation();
        if let Some(cause) = next
            && cause >= position
        {
            // A cause comes before what it causes: such metadata was not
            // written by `caused_by`, and following it could loop.
            eprintln!(
                "warning: event {position} names {cause} as its cause, which is not before it; \
                 the chain stops here"
            );
            next = None;
        }
    }
    Ok(())
}

async fn execute<S: EventStore + Clone>(store: S, command: StoreCommand) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match command {
        StoreCommand::Head => match store.head().await? {
            Some(head) => writeln!(out, "{head}")?,
            None => writeln!(out, "none")?,
        },
        StoreCommand::Read {
            filter,
            after,
            limit,
            backwards,
        } => read(&store, &filter, after, limit, backwards, &mut out).await?,
        StoreCommand::Chain { position } => {
            chain(&store, position, &mut out).await?;
        }
        StoreCommand::Tail {
            filter,
            after,
            from_start,
        } => {
            let start = if from_start || after.is_some() {
                after
            } else {
                store.head().await?
            };
            match start {
                Some(start) => eprintln!("following the events after position {start}"),
                None => eprintln!("following the events from the first one"),
            }
            let mut subscription = store.subscribe(filter.query(), start);
            loop {
                for event in subscription.next_batch().await? {
                    if filter.in_period(event.recorded_at) {
                        output::write_event(&mut out, &event)?;
                    }
                }
                out.flush()?;
            }
        }
        StoreCommand::Types {
            filter,
            unregistered,
        } => {
            // One count per type, not per event: any store fits.
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            let mut events = store.read(&filter.query(), ReadOptions::new()).await?;
            while let Some(event) = events.next().await {
                let event = event?;
                if !filter.in_period(event.recorded_at) {
                    continue;
                }
                match counts.get_mut(event.event_type().as_str()) {
                    Some(count) => *count += 1,
                    None => {
                        counts.insert(event.event_type().to_string(), 1);
                    }
                }
            }
            for (event_type, events) in &counts {
                let line = output::TypeLine::new(event_type, *events);
                if !unregistered || line.is_unregistered() {
                    output::write_type(&mut out, &line)?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}
