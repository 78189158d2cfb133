//! The command line: its arguments and how their values are checked.

use clap::{Args, Parser, Subcommand};

use crate::{EventType, Position, Query, QueryItem, Tag, Timestamp};

/// Looks inside a dcb event store: its head, its events as JSON lines, and
/// new events as they are appended.
///
/// Event data is decoded to JSON through the event types registered in this
/// program; data of other types is shown as base64.
#[derive(Parser, Debug)]
#[command(name = "dcb", version)]
pub(super) struct Cli {
    /// The store: an embedded store's directory or a `postgres://` URL.
    ///
    /// A directory that no other process has open is opened through its
    /// index and locked until the command exits; `tail`, or a store in use,
    /// reads it beside the application, which may keep it open.
    #[arg(long, global = true, env = "DCB_STORE", value_name = "DIR|URL")]
    pub(super) store: Option<String>,

    /// The schema of a PostgreSQL store.
    #[arg(
        long,
        global = true,
        value_name = "SCHEMA",
        default_value = "dcb",
        env = "DCB_SCHEMA"
    )]
    pub(super) schema: String,

    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand, Debug)]
pub(super) enum Command {
    /// The commands that read a store.
    #[command(flatten)]
    Store(StoreCommand),
    /// Prints a script that completes this command's arguments in a shell.
    ///
    /// For bash: `dcb completions bash > ~/.local/share/bash-completion/completions/dcb`.
    /// Reads no store.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Prints the SQL that creates or migrates a PostgreSQL store.
    #[cfg(feature = "postgres")]
    ///
    /// The SQL creates a store in the schema of --schema, or brings it up
    /// from migration --after, for operators who apply migrations with
    /// tools of their own (stores then connect with migrations off). Reads
    /// no store.
    Migrations {
        /// The migration the schema is at; 0 for a schema without a store.
        #[arg(long, value_name = "VERSION", default_value_t = 0,
              value_parser = clap::value_parser!(i32).range(0..))]
        after: i32,
    },
    /// Prints the SQL that lets a role use a PostgreSQL store.
    #[cfg(feature = "postgres")]
    ///
    /// The role may then use the store in the schema of --schema (append,
    /// read, subscribe, keep read models) without creating anything, for
    /// applications that connect as a role of their own with migrations
    /// off. Reads no store.
    Grants {
        /// The role the application connects as.
        #[arg(long, value_name = "ROLE")]
        role: String,
    },
}

/// The commands that read a store.
#[derive(Subcommand, Debug)]
pub(super) enum StoreCommand {
    /// Prints the position of the last event, or "none" for an empty store.
    Head,
    /// Prints the matching events, one JSON object per line.
    Read {
        #[command(flatten)]
        filter: Filter,
        /// Only events after this position.
        #[arg(long, value_name = "POSITION", value_parser = parse_position)]
        after: Option<Position>,
        /// At most this many events (for --backwards, the newest ones).
        #[arg(long, value_name = "N", value_parser = parse_limit)]
        limit: Option<usize>,
        /// Newest first.
        #[arg(long)]
        backwards: bool,
    },
    /// Prints the matching events as they are appended, until interrupted.
    ///
    /// One JSON object per line. Starts at the store's current head unless
    /// told otherwise.
    Tail {
        #[command(flatten)]
        filter: Filter,
        /// Start after this position instead: print the stored events after
        /// it first.
        #[arg(long, value_name = "POSITION", value_parser = parse_position)]
        after: Option<Position>,
        /// Start at the first event: print every stored event first.
        #[arg(long, conflicts_with = "after")]
        from_start: bool,
    },
    /// Prints an event and, newest first, the events that caused it.
    ///
    /// Follows each event's causation (its metadata's `causation`, which
    /// `EventRecord::caused_by` sets) back to the event that started the
    /// chain; one JSON object per line.
    Chain {
        /// The event to start from.
        #[arg(value_name = "POSITION", value_parser = parse_position)]
        position: Position,
    },
    /// Prints each event type in the store, its count and its Rust type.
    ///
    /// The Rust type is the one registered for it in this program (null if
    /// none decodes it); one JSON object per line, sorted by type. Reads
    /// every matching event.
    Types {
        #[command(flatten)]
        filter: Filter,
        /// Only the types that no registered type decodes: events stored
        /// under a name no Rust type has (any more), such as a renamed
        /// type's old name.
        #[arg(long)]
        unregistered: bool,
    },
}

/// Which events a command shows.
#[derive(Args, Debug)]
pub(super) struct Filter {
    /// Only events of this type; repeat it for any of several types.
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_type)]
    types: Vec<EventType>,
    /// Only events carrying this tag; repeat it for events carrying all of
    /// several tags.
    #[arg(long = "tag", value_name = "TAG", value_parser = parse_tag)]
    tags: Vec<Tag>,
    /// Only events recorded at or after TIME: RFC 3339
    /// (2026-12-05T12:00:00Z), a date (2026-12-05, midnight UTC), or a
    /// duration ago (90m, 2h, 1h 30m). Events stored before stores recorded
    /// times are left out.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(super) since: Option<Timestamp>,
    /// Only events recorded before TIME, written as for --since.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(super) until: Option<Timestamp>,
}

impl Filter {
    /// The query: one item of the types and tags, or every event.
    pub(super) fn query(&self) -> Query {
        if self.types.is_empty() && self.tags.is_empty() {
            return Query::all();
        }
        Query::from(
            QueryItem::new()
                .types(self.types.iter().cloned())
                .tags(self.tags.iter().cloned()),
        )
    }
}

impl Filter {
    /// Whether a time bound is given.
    pub(super) fn has_period(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    /// Whether an event recorded at `at` is within `--since` and
    /// `--until`; one without a time is only when neither is given.
    pub(super) fn in_period(&self, at: Option<Timestamp>) -> bool {
        if !self.has_period() {
            return true;
        }
        at.is_some_and(|at| {
            self.since.is_none_or(|since| at >= since) && self.until.is_none_or(|until| at < until)
        })
    }
}

/// A time as `--since` and `--until` take it: RFC 3339, a date (midnight
/// UTC), or a duration ago.
fn parse_time(value: &str) -> Result<Timestamp, String> {
    let value = value.trim();
    if let Ok(at) = value.parse::<Timestamp>() {
        return Ok(at);
    }
    let is_date = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if is_date {
        return format!("{value}T00:00:00Z")
            .parse::<Timestamp>()
            .map_err(|_| format!("`{value}` is not a date"));
    }
    match value.parse::<jiff::SignedDuration>() {
        Ok(ago) if !ago.is_negative() => Ok(Timestamp::now().saturating_sub(ago.unsigned_abs())),
        _ => Err(format!(
            "`{value}` is not a time: write RFC 3339 (2026-12-05T12:00:00Z), a date \
             (2026-12-05) or a duration ago (90m, 2h)"
        )),
    }
}

fn parse_type(value: &str) -> Result<EventType, String> {
    EventType::new(value).map_err(|e| e.to_string())
}

fn parse_tag(value: &str) -> Result<Tag, String> {
    Tag::new(value).map_err(|e| e.to_string())
}

fn parse_position(value: &str) -> Result<Position, String> {
    let n: u64 = value
        .parse()
        .map_err(|_| "a position is a whole number, 1 or more".to_owned())?;
    Position::new(n).ok_or_else(|| "positions start at 1".to_owned())
}

fn parse_limit(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("the limit must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err("a limit is a whole number, 1 or more".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    // Issue 27: summaries ran past 200 characters, with backticks that a
    // terminal shows as they are.
    #[test]
    fn every_subcommand_has_a_one_line_summary() {
        use clap::CommandFactory;
        for command in Cli::command().get_subcommands() {
            let about = command.get_about().map(ToString::to_string);
            let about = about.unwrap_or_default();
            assert!(
                !about.is_empty() && about.len() <= 80 && !about.contains('`'),
                "the summary of `{}` is not one plain line of at most 80 characters: {about:?}",
                command.get_name()
            );
        }
    }

    #[test]
    fn several_types_are_any_and_several_tags_are_all() {
        let cli = Cli::try_parse_from([
            "dcb", "read", "--type", "A", "--type", "B", "--tag", "x:1", "--tag", "y:2",
        ])
        .unwrap();
        let Command::Store(StoreCommand::Read { filter, .. }) = cli.command else {
            panic!("a read");
        };
        let query = filter.query();
        assert_eq!(query.items().len(), 1);
        assert_eq!(query.items()[0].event_types().len(), 2);
        assert_eq!(query.items()[0].required_tags().len(), 2);
    }

    #[test]
    fn zero_positions_and_limits_are_refused() {
        assert!(Cli::try_parse_from(["dcb", "read", "--after", "0"]).is_err());
        assert!(Cli::try_parse_from(["dcb", "read", "--limit", "0"]).is_err());
        assert!(Cli::try_parse_from(["dcb", "read", "--type", ""]).is_err());
        assert!(Cli::try_parse_from(["dcb", "tail", "--after", "3", "--from-start"]).is_err());
    }

    #[test]
    fn times_are_rfc_3339_dates_or_durations_ago() {
        let noon: Timestamp = "2026-12-05T12:00:00Z".parse().unwrap();
        assert_eq!(parse_time("2026-12-05T12:00:00Z"), Ok(noon));
        assert_eq!(parse_time("2026-12-05T13:00:00+01:00"), Ok(noon));
        assert_eq!(
            parse_time("2026-12-05"),
            Ok("2026-12-05T00:00:00Z".parse().unwrap())
        );
        let before = Timestamp::now();
        let ago = parse_time("2h").unwrap();
        let two_hours = std::time::Duration::from_hours(2);
        assert!(
            ago <= before
                .saturating_sub(two_hours)
                .saturating_add(std::time::Duration::from_mins(1))
        );
        assert!(
            ago >= before
                .saturating_sub(two_hours)
                .saturating_sub(std::time::Duration::from_mins(1))
        );
        for bad in ["yesterday", "2026-13-45", "-2h", ""] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
        let cli = Cli::try_parse_from([
            "dcb",
            "read",
            "--since",
            "2026-12-05",
            "--until",
            "2026-12-06",
        ])
        .unwrap();
        let Command::Store(StoreCommand::Read { filter, .. }) = cli.command else {
            panic!("a read");
        };
        assert!(filter.in_period(Some(noon)));
        assert!(!filter.in_period(Some("2026-12-06T00:00:00Z".parse().unwrap())));
        assert!(!filter.in_period(Some("2026-12-04T23:59:59Z".parse().unwrap())));
        assert!(
            !filter.in_period(None),
            "an event without a time is outside any period"
        );
    }

    #[test]
    fn types_takes_a_filter_and_unregistered() {
        let cli = Cli::try_parse_from(["dcb", "types", "--unregistered", "--tag", "x:1"]).unwrap();
        let Command::Store(StoreCommand::Types {
            filter,
            unregistered,
        }) = cli.command
        else {
            panic!("types");
        };
        assert!(unregistered);
        assert_eq!(filter.query().items()[0].required_tags().len(), 1);
    }
}
