//! Gapless invoice numbers: each invoice takes the number after the last.
//!
//! The rule: invoice numbers run 1, 2, 3, … with no gap and no duplicate,
//! however many clients create invoices at once.
//!
//! The boundary is global, since every invoice draws on one sequence, but
//! the next number depends on the latest invoice alone: the decision is
//! `#[decision(global, latest)]`, which reads only the last
//! `InvoiceCreated` (backwards, one event) and appends under "no invoice
//! created after it". A client that loses the race retries with a fresh
//! read; the cost of a decision stays the same however many invoices exist.
//! The command hands the new number back with `Returning`.
//!
//! Run it with `cargo run -p dcb-core --example invoice_numbers`, and its
//! tests (with 8 clients creating 80 invoices at once) with
//! `cargo test -p dcb-core --example invoice_numbers`.

use std::convert::Infallible;

use dcb_core::embedded::EmbeddedStore;
use dcb_core::{Decider, Event, Retry, Returning, decision};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug)]
struct InvoiceCreated {
    number: u64,
}

/// The number of the last invoice.
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

// `decide` takes a command that may refuse; this one never does.
#[allow(clippy::unnecessary_wraps)]
fn create(last: &LastInvoice) -> Result<Returning<InvoiceCreated, u64>, Infallible> {
    let number = last.number + 1;
    Ok(Returning::new(InvoiceCreated { number }, number))
}

/// Every invoice number, in the order stored: a view, not a decision.
#[decision(global)]
struct AllInvoices {
    numbers: Vec<u64>,
}

#[decision]
impl AllInvoices {
    fn created(&mut self, event: &InvoiceCreated) {
        self.numbers.push(event.number);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = EmbeddedStore::open(dir.path())?;
    let decider = Decider::new(&store).retry(Retry::attempts(10));
    for _ in 0..3 {
        let (_, number) = decider.decide(LastInvoice::new(), create).await?;
        println!("invoice {number} created");
    }
    let all = dcb_core::load(&store, AllInvoices::new()).await?;
    println!("invoices stored: {:?}", all.numbers);
    Ok(())
}

#[cfg(test)]
mod tests {
    use dcb_core::testkit::given;

    use super::*;

    #[test]
    fn the_first_invoice_is_number_1() {
        let number = given(())
            .when(LastInvoice::new(), create)
            .then(InvoiceCreated { number: 1 });
        assert_eq!(number, 1);
    }

    #[test]
    fn an_invoice_takes_the_number_after_the_last() {
        let created = |number| InvoiceCreated { number };
        let number = given((created(1), created(2), created(3)))
            .when(LastInvoice::new(), create)
            .then(created(4));
        assert_eq!(number, 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn eight_clients_creating_80_invoices_leave_no_gap_and_no_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let clients: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let decider = Decider::new(&store).retry(Retry::attempts(100));
                    let mut numbers = Vec::new();
                    for _ in 0..10 {
                        let (_, number) = decider.decide(LastInvoice::new(), create).await.unwrap();
                        numbers.push(number);
                    }
                    numbers
                })
            })
            .collect();
        let mut returned = Vec::new();
        for client in clients {
            returned.extend(client.await.unwrap());
        }
        returned.sort_unstable();
        let expected: Vec<u64> = (1..=80).collect();
        assert_eq!(returned, expected, "the numbers handed back");

        let stored = dcb_core::load(&store, AllInvoices::new()).await.unwrap();
        assert_eq!(stored.numbers, expected, "the numbers stored, in order");
    }
}
