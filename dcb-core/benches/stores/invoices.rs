//! Gapless invoice numbers (issue 23): a latest-event decision reads one
//! event however many invoices exist, so the last thousand of ten thousand
//! sequential invoices cost what the first thousand do. The same decision
//! folding every invoice (`#[decision(global)]` without `latest`) is
//! measured beside it, to show what `latest` saves.

use std::convert::Infallible;
use std::time::Instant;

use dcb_core::{Decider, Event, InMemoryStore, Retry, Returning, decision};
use serde::{Deserialize, Serialize};

use crate::report::Latencies;

#[derive(Event, Serialize, Deserialize)]
#[event(name = "BenchInvoiceCreated")]
struct InvoiceCreated {
    number: u64,
}

/// The last invoice's number, from the latest `InvoiceCreated` only.
#[decision(global, latest)]
#[derive(Clone)]
struct LastInvoice {
    number: u64,
}

#[decision]
impl LastInvoice {
    fn created(&mut self, event: &InvoiceCreated) {
        self.number = event.number;
    }
}

/// The same state, folded from every invoice.
#[decision(global)]
#[derive(Clone)]
struct EveryInvoice {
    number: u64,
}

#[decision]
impl EveryInvoice {
    fn created(&mut self, event: &InvoiceCreated) {
        self.number = event.number;
    }
}

/// The number after `last`, and the invoice that takes it.
fn next(last: u64) -> Returning<InvoiceCreated, u64> {
    let number = last + 1;
    Returning::new(InvoiceCreated { number }, number)
}

/// Creates `count` invoices one after another with the latest-event
/// decision (`latest`) or the full fold; returns each invoice's latency.
pub async fn create(count: u64, latest: bool) -> Latencies {
    let store = InMemoryStore::new();
    let decider = Decider::new(&store).retry(Retry::attempts(3));
    let mut latencies = Latencies::with_capacity(usize::try_from(count).unwrap_or(0));
    for expected in 1..=count {
        let start = Instant::now();
        let (_, number) = if latest {
            decider
                .decide(LastInvoice::new(), |s| Ok::<_, Infallible>(next(s.number)))
                .await
        } else {
            decider
                .decide(EveryInvoice::new(), |s| Ok::<_, Infallible>(next(s.number)))
                .await
        }
        .expect("a sequential invoice never conflicts");
        latencies.push(start.elapsed());
        assert_eq!(number, expected, "the numbers are gapless");
    }
    latencies
}
