//! The conformance suite through `AnyStore`, the store chosen at run time:
//! opened from a location (`memory:`, a directory, a `postgres://` URL),
//! it must behave as the store it wraps.

use dcb_core::EventStore;
use dcb_core::any::{AnyOptions, AnyStore};
use dcb_core::conformance::{Harness, Options, Unavailable, run_all};

use crate::postgres_support::{self, drop_schema, random_schema};

/// Stores opened from a location, each in a fresh directory or schema.
struct Located(Kind);

enum Kind {
    Memory,
    Embedded,
    Postgres,
}

/// What a store's case leaves behind to clean up.
enum Guard {
    None,
    Dir(#[allow(dead_code, reason = "removed when dropped")] tempfile::TempDir),
    Schema(String),
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Schema(schema) = self {
            drop_schema(schema);
        }
    }
}

impl Harness for Located {
    type Store = AnyStore;
    type Guard = Guard;

    async fn store(&self) -> Result<(AnyStore, Guard), Unavailable> {
        match self.0 {
            Kind::Memory => Ok((
                open(AnyStore::MEMORY, &AnyOptions::new()).await,
                Guard::None,
            )),
            Kind::Embedded => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let location = dir.path().to_str().expect("a UTF-8 path").to_owned();
                Ok((open(&location, &AnyOptions::new()).await, Guard::Dir(dir)))
            }
            Kind::Postgres => {
                if let Err(reason) = postgres_support::try_raw_client().await {
                    return Err(Unavailable::new(reason));
                }
                let schema = random_schema();
                let options = AnyOptions::new().schema(schema.clone());
                let store = open(&postgres_support::url(), &options).await;
                Ok((store, Guard::Schema(schema)))
            }
        }
    }
}

async fn open(location: &str, options: &AnyOptions) -> AnyStore {
    AnyStore::open_with(location, options)
        .await
        .unwrap_or_else(|err| panic!("{location} opens: {err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_through_any_store() {
    run_all(Located(Kind::Memory), Options::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_through_any_store() {
    run_all(Located(Kind::Embedded), Options::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_through_any_store() {
    run_all(
        Located(Kind::Postgres),
        Options::new()
            .gap_free_positions(false)
            .wakes_without_timers(false),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_location_names_its_kind_and_read_only_never_creates() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-yet");
    let location = missing.to_str().unwrap();
    let err = AnyStore::open_with(location, &AnyOptions::new().read_only())
        .await
        .expect_err("a read-only open of nothing");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!missing.exists(), "a read-only open creates nothing");
    let store = AnyStore::open(location).await.unwrap();
    assert_eq!(store.kind(), "embedded");
    assert_eq!(store.head().await.unwrap(), None);
    store.close();
    let reader = AnyStore::open_with(location, &AnyOptions::new().read_only())
        .await
        .unwrap();
    assert_eq!(reader.kind(), "embedded");
    let appended = reader
        .append(
            vec![dcb_core::EventRecord::new(
                dcb_core::EventType::from_static("A"),
                "",
            )],
            None,
        )
        .await;
    assert!(matches!(
        appended,
        Err(dcb_core::AppendError::ReadOnly { .. })
    ));
}
