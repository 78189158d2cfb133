//! A progress bar for an open that indexes a long stretch of log: a store
//! written before the index existed, one whose index was deleted, or one
//! whose index is of another format and is rebuilt.

use crate::embedded::IndexProgress;

/// Reports an open's indexing on `bar`, a progress bar on stderr that shows
/// nothing until the first report; clear it once the open returns. Give
/// it to [`EmbeddedOptions::on_index_progress`].
///
/// [`EmbeddedOptions::on_index_progress`]: crate::embedded::EmbeddedOptions::on_index_progress
///
/// ```no_run
/// use dcb_core::embedded::{EmbeddedOptions, EmbeddedStore};
///
/// let bar = indicatif::ProgressBar::new(0);
/// let options = EmbeddedOptions::default().on_index_progress(dcb_core::inspect::index_progress(bar.clone()));
/// let store = EmbeddedStore::open_with("data", &options)?;
/// bar.finish_and_clear();
/// # Ok::<(), dcb_core::embedded::OpenError>(())
/// ```
pub fn index_progress(
    bar: indicatif::ProgressBar,
) -> impl Fn(IndexProgress) + Send + Sync + 'static {
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "indexing the store {bar} {bytes}/{total_bytes} of log, {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    move |progress| {
        bar.set_length(progress.total_bytes);
        bar.set_position(progress.bytes);
        bar.set_message(format!("{} events", progress.events));
    }
}
