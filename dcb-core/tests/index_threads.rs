//! An open embedded store runs one background thread for its index: fjall
//! 3.1's first thread of a larger pool only hands compaction on to the
//! others and spins while they merge (docs/decisions/0024). A test binary
//! of its own, since it counts the threads of the whole process.
#![cfg(all(target_os = "linux", feature = "embedded"))]

use dcb_core::embedded::EmbeddedStore;

/// The threads of this process that fjall started.
fn fjall_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("this process's threads")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "fjall:worker")
        .count()
}

#[test]
fn an_open_store_runs_one_index_thread() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(fjall_threads(), 0);
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(fjall_threads(), 1);
    store.close();
}
