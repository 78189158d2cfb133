//! `RUST_LOG` for a command-line tool built on dcb: its `tracing` output on
//! stderr.

use std::io::IsTerminal as _;

use tracing_subscriber::fmt::format::FmtSpan;

/// Sends `tracing` output to stderr, filtered by `RUST_LOG` (the
/// directives of `tracing_subscriber`'s `EnvFilter`, such as
/// `dcb_core=debug` or `warn`), printing each span as it closes with its
/// fields and time. Without `RUST_LOG` it installs nothing, so a tool's
/// own messages are all it prints; a `RUST_LOG` that is not a filter is
/// said on stderr, and nothing is logged.
///
/// The inspector calls it; a command-line tool of one's own may too, once,
/// first thing in `main`.
pub fn log_from_env() {
    let Ok(directives) = std::env::var("RUST_LOG") else {
        return;
    };
    match tracing_subscriber::EnvFilter::builder().parse(&directives) {
        Ok(filter) => {
            // Fails only if a subscriber is installed already: then that
            // one logs.
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_span_events(FmtSpan::CLOSE)
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr)
                .try_init();
        }
        Err(err) => {
            eprintln!(
                "warning: RUST_LOG={directives:?} is not a filter ({err}); nothing is logged"
            );
        }
    }
}
