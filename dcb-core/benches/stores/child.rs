//! The embedded benchmark's child processes: the benchmark binary run again
//! with a hidden flag. One fills (or tops up) the large store and closes it,
//! so that the memory a fill takes is not left in the process that then
//! measures the open; another appends to a store until it is killed (SIGKILL), for
//! `open_after_kill`.
//!
//! A child tells its parent what it did in lines of words on its stdout; it
//! writes its progress on the stderr it shares with the parent. The parent
//! kills and reaps a child it drops, and a child exits as soon as its
//! parent is gone (its stdout then fails), so no run leaves one behind.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Instant;

use dcb_core::EventStore;
use dcb_core::embedded::EmbeddedStore;

use crate::workloads::{fill_range, tail_event};

/// `--child-fill DIR N`: open the store in DIR, fill it up to N events,
/// close it.
pub const FILL: &str = "--child-fill";
/// `--child-append DIR N`: open the store in DIR and append up to N events
/// in batches of [`TAIL_BATCH`], until killed.
pub const APPEND: &str = "--child-append";

/// Events per append of the process that is killed.
pub const TAIL_BATCH: u64 = 1_000;

/// Exits this child as soon as its parent is gone (it is then a child of
/// another process), checking twice a second on a thread of its own: a
/// fill writes nothing to its parent for minutes.
pub fn exit_with_parent() {
    let parent = std::os::unix::process::parent_id();
    let _ = std::thread::Builder::new()
        .name("parent-watch".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_millis(500));
                if std::os::unix::process::parent_id() != parent {
                    eprintln!("(the benchmark is gone: its child process exits)");
                    std::process::exit(3);
                }
            }
        });
}

/// Writes one line to the parent; exits if the parent is gone.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(3);
    }
}

/// The child that fills: `opened LEN SECONDS`, then `filled FROM TO
/// SECONDS` if it appended, then `closed SECONDS`.
pub async fn fill(dir: &Path, total: u64) -> Result<(), String> {
    let start = Instant::now();
    let store = EmbeddedStore::open(dir).map_err(|e| format!("cannot open: {e}"))?;
    let found = store.len() as u64;
    say(&format!("opened {found} {}", start.elapsed().as_secs_f64()));
    if found < total {
        if found > 0 {
            eprintln!("    (resuming the fill after the {found} events the store holds)");
        }
        let start = Instant::now();
        // About twenty progress lines, at most one per 100k events.
        let every = (total / 20).max(100_000);
        fill_range(&store, found, total, total, every, |n| {
            #[allow(clippy::cast_precision_loss)]
            let rate = (n - found) as f64 / start.elapsed().as_secs_f64();
            eprintln!("    (filled {n} of {total} events, {rate:.0} events/s)");
        })
        .await;
        say(&format!(
            "filled {found} {total} {}",
            start.elapsed().as_secs_f64()
        ));
    }
    let start = Instant::now();
    store.close();
    say(&format!("closed {}", start.elapsed().as_secs_f64()));
    Ok(())
}

/// The child that is killed: `opened LEN`, then `appended N` after each
/// acknowledged append (N events in all so far). Stops at `limit` events,
/// should no kill come.
pub async fn append(dir: &Path, limit: u64) -> Result<(), String> {
    let store = EmbeddedStore::open(dir).map_err(|e| format!("cannot open: {e}"))?;
    say(&format!("opened {}", store.len()));
    let mut i = 0;
    while i < limit {
        let events = (i..i + TAIL_BATCH).map(tail_event).collect();
        store
            .append(events, None)
            .await
            .map_err(|e| format!("cannot append: {e}"))?;
        i += TAIL_BATCH;
        say(&format!("appended {i}"));
    }
    store.close();
    Ok(())
}

/// A child process, killed (SIGKILL) and reaped when dropped.
struct Guard {
    child: Child,
    out: BufReader<ChildStdout>,
    what: &'static str,
}

impl Guard {
    fn spawn(what: &'static str, flag: &str, dir: &Path, n: u64) -> Result<Guard, String> {
        let exe = std::env::current_exe().map_err(|e| format!("no executable: {e}"))?;
        let mut child = Command::new(exe)
            .arg(flag)
            .arg(dir)
            .arg(n.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the {what}: {e}"))?;
        let out = BufReader::new(child.stdout.take().expect("piped"));
        Ok(Guard { child, out, what })
    }

    /// The child's next line, as words; `None` at its end.
    fn next(&mut self) -> Option<Vec<String>> {
        let mut line = String::new();
        match self.out.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.split_whitespace().map(str::to_owned).collect()),
        }
    }

    /// The next line, which must start with `word`: its other words.
    fn expect(&mut self, word: &str) -> Result<Vec<String>, String> {
        match self.next() {
            Some(words) if words.first().is_some_and(|w| w == word) => Ok(words[1..].to_vec()),
            Some(words) => Err(format!(
                "the {} said {:?}, expected {word:?}",
                self.what,
                words.join(" ")
            )),
            None => Err(format!("the {} ended before saying {word:?}", self.what)),
        }
    }

    /// Waits for the child to exit; an error unless it exited with success.
    fn wait(mut self) -> Result<(), String> {
        let status = self
            .child
            .wait()
            .map_err(|e| format!("cannot wait for the {}: {e}", self.what))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("the {} failed: {status}", self.what))
        }
    }

    /// SIGKILLs the child and reaps it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

fn number<T: std::str::FromStr>(words: &[String], i: usize) -> Result<T, String> {
    words
        .get(i)
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| format!("a child's line lacks a number: {words:?}"))
}

/// What the filling child found and did.
pub struct Prepared {
    /// Events in the store when the child opened it.
    pub found: u64,
    /// How long the child's open took, in seconds.
    pub open_seconds: f64,
    /// Events appended and the seconds that took, if it filled.
    pub filled: Option<(u64, f64)>,
    /// How long its close took, in seconds.
    pub close_seconds: f64,
}

/// Fills the store in `dir` up to `total` events in a child process (or
/// finds it full), which then closes it cleanly.
pub fn prepare(dir: &Path, total: u64) -> Result<Prepared, String> {
    let mut child = Guard::spawn("filling process", FILL, dir, total)?;
    let opened = child.expect("opened")?;
    let (found, open_seconds) = (number(&opened, 0)?, number(&opened, 1)?);
    let mut words = child.next().ok_or("the filling process ended early")?;
    let filled = if words.first().is_some_and(|w| w == "filled") {
        let from: u64 = number(&words, 1)?;
        let to: u64 = number(&words, 2)?;
        let seconds: f64 = number(&words, 3)?;
        words = child.next().ok_or("the filling process ended early")?;
        Some((to - from, seconds))
    } else {
        None
    };
    if words.first().is_none_or(|w| w != "closed") {
        return Err(format!("the filling process said {:?}", words.join(" ")));
    }
    let close_seconds = number(&words, 1)?;
    child.wait()?;
    Ok(Prepared {
        found,
        open_seconds,
        filled,
        close_seconds,
    })
}

/// What the killed child did.
pub struct Killed {
    /// Events in the store when it opened it.
    pub found: u64,
    /// Events whose appends it saw acknowledged before the kill.
    pub acknowledged: u64,
    /// Seconds from its open to the kill.
    pub seconds: f64,
}

/// Starts a child that opens the store in `dir` and appends to it, and
/// SIGKILLs it once `kill_after` of its events are acknowledged (while it
/// writes the next append).
pub fn append_then_kill(dir: &Path, kill_after: u64) -> Result<Killed, String> {
    // A bound the child stops at should the kill never come.
    let limit = kill_after.saturating_mul(4).saturating_add(1_000_000);
    let mut child = Guard::spawn("appending process", APPEND, dir, limit)?;
    let found = number(&child.expect("opened")?, 0)?;
    let start = Instant::now();
    loop {
        let acknowledged: u64 = number(&child.expect("appended")?, 0)?;
        if acknowledged >= kill_after {
            child.kill();
            return Ok(Killed {
                found,
                acknowledged,
                seconds: start.elapsed().as_secs_f64(),
            });
        }
    }
}
