//! What an operator sees through `tracing`: the spans of appends with
//! their outcome, and a warning when `Decider` retries a conflict.

use std::io::Write;
use std::sync::{Arc, Mutex};

use dcb_core::{
    AppendCondition, Decider, Event, EventStore, Id, InMemoryStore, Query, Retry, decision,
};
use serde::{Deserialize, Serialize};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::support::block_on;

/// Everything the subscriber writes, for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("not poisoned")).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("not poisoned")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// Runs `f` with a subscriber of `dcb_core=debug` on this thread, and
/// returns what it wrote.
fn traced(f: impl FnOnce()) -> String {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("dcb_core=debug"))
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    captured.text()
}

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CounterId(u32);

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(name = "TracingCounterIncremented")]
struct Incremented {
    #[tag]
    counter_id: CounterId,
}

#[decision]
#[derive(Clone)]
struct Counter {
    #[boundary]
    counter_id: CounterId,
    count: u32,
}

#[decision]
impl Counter {
    fn incremented(&mut self, _: &Incremented) {
        self.count += 1;
    }
}

#[test]
fn an_append_span_carries_its_outcome() {
    let output = traced(|| {
        block_on(async {
            let store = InMemoryStore::new();
            let event = || {
                Incremented {
                    counter_id: CounterId(1),
                }
                .to_event()
                .unwrap()
            };
            store.append(vec![event()], None).await.unwrap();
            let stale = AppendCondition::new(Query::all()).after(None);
            store.append(vec![event()], Some(stale)).await.unwrap_err();
        });
    });
    assert!(
        output.contains(
            r#"append{store="memory" events=1 conditional=false position=1 outcome="appended"}"#
        ),
        "{output}"
    );
    assert!(
        output.contains(
            r#"append{store="memory" events=1 conditional=true position=1 outcome="conflict"}"#
        ),
        "{output}"
    );
}

#[test]
fn a_retried_conflict_is_a_warning() {
    let output = traced(|| {
        block_on(async {
            let store = InMemoryStore::new();
            let decider = Decider::new(&store).retry(Retry::attempts(3));
            let mut first = true;
            // The first attempt's read is made stale by an append between
            // its read and its append, so its append conflicts.
            let (position, ()) = decider
                .decide(Counter::new(CounterId(7)), |counter: &Counter| {
                    if std::mem::take(&mut first) {
                        store
                            .append_now(
                                vec![
                                    Incremented {
                                        counter_id: CounterId(7),
                                    }
                                    .to_event()
                                    .unwrap(),
                                ],
                                None,
                            )
                            .unwrap();
                    }
                    Ok::<_, &str>(dcb_core::Returning::new(
                        Incremented {
                            counter_id: counter.counter_id,
                        },
                        (),
                    ))
                })
                .await
                .unwrap();
            assert_eq!(position.map(dcb_core::Position::get), Some(2));
        });
    });
    assert!(
        output.contains("WARN") && output.contains("the decision conflicted"),
        "{output}"
    );
    assert!(output.contains("decide{attempt=2}"), "{output}");
}
