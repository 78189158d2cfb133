//! The PostgreSQL store's pool recovers from a server restart (issue 6,
//! item 6). A binary of its own: cargo runs test binaries one after
//! another, so the restart cannot break the PostgreSQL tests of other
//! binaries (this binary holds only this test).
//!
//! It restarts the local cluster with `pg_ctlcluster
//! --skip-systemctl-redirect <version> main restart`, so it needs the
//! server on this machine and the rights to do that (root or the
//! `postgres` user). Where that is not possible it is reported as
//! skipped (or fails, under `DCB_REQUIRE_POSTGRES=1`) and returns. A guard starts the cluster again if the test leaves it down,
//! whatever happens.

mod postgres_support;

use std::process::Command;
use std::time::{Duration, Instant};

use dcb_core::{
    AppendError, EventRecord, EventStore, EventType, Query, QueryItem, ReadOptions, Tag, Uuid,
};
use postgres_support::{runtime, shout, skip, temp_schema, url};

/// The newest installed cluster version, as `.ci/run` picks it.
fn cluster_version() -> Option<String> {
    let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|v| v.parse::<u32>().is_ok())
        .collect();
    versions.sort_by_key(|v| v.parse::<u32>().unwrap_or(0));
    versions.pop()
}

fn server_ready() -> bool {
    Command::new("pg_isready")
        .args(["-h", "127.0.0.1", "-q"])
        .status()
        .is_ok_and(|s| s.success())
}

fn pg_ctlcluster(version: &str, action: &str) -> bool {
    Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", version, "main", action])
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts the cluster on drop if it is down, so that a failing test never
/// leaves the server stopped for the tests that follow.
struct ServerGuard {
    version: String,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if !server_ready() {
            let _ = pg_ctlcluster(&self.version, "start");
            for _ in 0..30 {
                if server_ready() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            shout("the PostgreSQL server could not be started again after the restart test");
        }
    }
}

#[test]
fn the_pool_recovers_from_a_server_restart() {
    runtime(4).block_on(async {
        let Some(temp) = temp_schema(4).await else {
            return;
        };
        let local = ["@127.0.0.1:", "@localhost:", "@127.0.0.1/", "@localhost/"]
            .iter()
            .any(|host| url().contains(host));
        let version = cluster_version();
        let tool = Command::new("pg_ctlcluster").arg("--help").output().is_ok();
        let (true, Some(version), true) = (local, version, tool) else {
            skip(&format!(
                "cannot restart the PostgreSQL server at {} from here: not local, or no \
                 pg_ctlcluster",
                url()
            ));
            return;
        };
        let _guard = ServerGuard {
            version: version.clone(),
        };
        let store = temp.store.clone();
        let ty = EventType::from_static("Noted");
        let tag = Tag::from_static("restart:1");
        let before = store
            .append(
                vec![EventRecord::new(ty.clone(), "before").with_tags([tag.clone()])],
                None,
            )
            .await
            .expect("an append before the restart");
        // Fill the pool: every pooled connection dies in the restart.
        let all = Query::all();
        let reads = (0..4).map(|_| store.read_to_end(&all, ReadOptions::new()));
        for read in futures_util::future::join_all(reads).await {
            assert_eq!(read.expect("a read").events.len(), 1);
        }
        assert!(
            store.pool().status().size >= 2,
            "the pool holds connections"
        );

        let started = Instant::now();
        assert!(
            pg_ctlcluster(&version, "restart"),
            "pg_ctlcluster {version} main restart failed"
        );
        let restart = started.elapsed();

        // An idempotent append (with an id), retried a bounded number of
        // times: each failure discards one dead connection.
        let event = EventRecord::new(ty.clone(), "after")
            .with_tags([tag.clone()])
            .with_id(Uuid::new_v4());
        let mut attempts = 0;
        let after = loop {
            attempts += 1;
            match store.append(vec![event.clone()], None).await {
                Ok(position) => break position,
                Err(AppendError::Backend(e)) if attempts < 20 => {
                    eprintln!("append {attempts} after the restart failed: {e}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("the store did not recover from the restart: {e}"),
            }
        };
        assert!(after > before);
        let mut read_attempts = 0;
        let read = loop {
            read_attempts += 1;
            match store
                .read_to_end(
                    &Query::from(QueryItem::new().tags([tag.clone()])),
                    ReadOptions::new(),
                )
                .await
            {
                Ok(read) => break read,
                Err(e) if read_attempts < 20 => {
                    eprintln!("read {read_attempts} after the restart failed: {e}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("reads did not recover from the restart: {e}"),
            }
        };
        let positions: Vec<_> = read.events.iter().map(|e| e.position).collect();
        assert_eq!(positions, vec![before, after], "both events, once each");
        assert_eq!(read.head, Some(after));
        // The idempotent retry of the post-restart append is recognised.
        assert_eq!(store.append(vec![event], None).await.unwrap(), after);
        eprintln!(
            "postgres restart: pg_ctlcluster restart took {restart:?}; the first append \
             succeeded at attempt {attempts}, the first read at attempt {read_attempts}"
        );
    });
}
