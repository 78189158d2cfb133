//! The manifest: the one fact about a log that its segments cannot tell —
//! where its last segment starts.
//!
//! Segments are named by their first position, so a missing segment before
//! the last one shows as a gap in the positions. A missing *last* segment
//! leaves no gap: the log just looks shorter. The `MANIFEST` file records
//! the first position of the last segment; it is written when the store is
//! made and after each new segment is durable, by writing a temporary file,
//! syncing it and renaming it over the old one, then syncing the directory.
//! So on disk the last segment is never behind the manifest unless a
//! segment was lost.
//!
//! ```text
//! dcb manifest 1
//! last segment 00000000000000000001.log
//! ```

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::OpenError;
use super::file_layer::FileLayer;
use super::log::segment_path;

/// The manifest's file name.
pub(super) const FILE: &str = "MANIFEST";
const TEMPORARY: &str = "MANIFEST.tmp";
const FIRST_LINE: &str = "dcb manifest 1";
const LAST_SEGMENT: &str = "last segment ";

/// The first position of the last segment, as the manifest records it;
/// `None` for a store made before manifests (or a new one).
pub(super) fn read(dir: &Path) -> Result<Option<u64>, OpenError> {
    let path = dir.join(FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(OpenError::io(&path, e)),
    };
    let mut lines = text.lines();
    let last = (lines.next() == Some(FIRST_LINE))
        .then(|| lines.next())
        .flatten()
        .and_then(|line| line.strip_prefix(LAST_SEGMENT))
        .and_then(|name| name.strip_suffix(".log"))
        .filter(|digits| digits.len() == 20)
        .and_then(|digits| digits.parse::<u64>().ok());
    match last {
        Some(first) => Ok(Some(first)),
        None => Err(OpenError::Corrupt {
            file: path,
            offset: 0,
            reason: "the manifest cannot be read".to_owned(),
        }),
    }
}

/// Records durably that the last segment starts at position `first`.
pub(super) fn write(layer: &impl FileLayer, dir: &Path, first: u64) -> Result<(), OpenError> {
    let path = dir.join(FILE);
    let text = format!("{FIRST_LINE}\n{LAST_SEGMENT}{first:020}.log\n");
    layer
        .replace(&path, &dir.join(TEMPORARY), text.as_bytes())
        .map_err(|e| OpenError::io(&path, e))
}

/// Checks the segments found against the manifest: the last one must not
/// start before the manifest's. Returns the missing segment's path if it
/// does.
pub(super) fn missing(
    dir: &Path,
    recorded: Option<u64>,
    segments: &[(u64, PathBuf)],
) -> Option<PathBuf> {
    let recorded = recorded?;
    let last = segments.last().map_or(0, |(first, _)| *first);
    (last < recorded).then(|| segment_path(dir, recorded))
}
