//! Printing to stdout when the reader may go away: `coursebooking demo |
//! head -1` closes the pipe after one line, which is a reason to stop, not
//! a failure.

use std::fmt;
use std::io::{self, ErrorKind, Write as _};
use std::process::ExitCode;

/// Prints one line to stdout, like `println!`, but returns the write's
/// error instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// Writes one line to stdout; see [`say!`].
pub fn line(args: fmt::Arguments<'_>) -> io::Result<()> {
    // Stdout is line-buffered: the newline sends the line, so a closed
    // pipe shows here rather than at exit.
    writeln!(io::stdout().lock(), "{args}")
}

/// Why a command stopped before its end.
#[derive(Debug)]
pub enum Stop {
    /// Whoever read stdout closed it: nothing more to say, exit status 0.
    Closed,
    /// A failure: one line on stderr, exit status 3.
    Failed(String),
}

impl From<io::Error> for Stop {
    fn from(err: io::Error) -> Stop {
        if err.kind() == ErrorKind::BrokenPipe {
            Stop::Closed
        } else {
            Stop::Failed(format!("cannot write to stdout: {err}"))
        }
    }
}

impl From<String> for Stop {
    fn from(message: String) -> Stop {
        Stop::Failed(message)
    }
}

/// The exit status of a command that prints as it goes.
pub fn exit_status(outcome: Result<(), Stop>) -> ExitCode {
    match outcome {
        Ok(()) | Err(Stop::Closed) => ExitCode::SUCCESS,
        Err(Stop::Failed(message)) => super::fail(&message),
    }
}
