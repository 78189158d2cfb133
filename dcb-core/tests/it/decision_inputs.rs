//! What a decision takes besides its ids and what it hands back:
//! `#[param]` inputs given to `new`, handlers that see the event's
//! position, latest-event decisions (`#[decision(latest)]`), and commands
//! that return a value with their events (`Returning`).

use dcb_core::{
    Decider, Event, EventStore, Id, InMemoryStore, Position, Projection, Query, ReadOptions, Retry,
    Returning, SequencedEvent, decide, decision, prepare,
};
use serde::{Deserialize, Serialize};

use dcb_core::testkit::given;

use crate::support::block_on;

fn at(n: u64) -> Position {
    Position::new(n).expect("positions start at 1")
}

#[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
struct Email(String);

#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
struct OptInTokenIssued {
    #[tag]
    email: Email,
    /// Seconds since an epoch of the application's.
    at: u64,
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
struct OptInConfirmed {
    #[tag]
    email: Email,
}

/// Whether a token can still be confirmed `now`: the time rule lives in
/// the projection, with `now` given to `new`.
#[decision]
struct OptIn {
    #[boundary]
    email: Email,
    #[param]
    now: u64,
    valid: bool,
    confirmed: bool,
    /// The positions the handlers saw, in order.
    seen: Vec<Position>,
}

#[decision]
impl OptIn {
    fn issued(&mut self, event: &OptInTokenIssued, position: Position) {
        self.valid = self.now <= event.at + 600;
        self.seen.push(position);
    }

    fn confirmed(&mut self, _: &OptInConfirmed, event: &SequencedEvent) {
        self.confirmed = true;
        self.seen.push(event.position);
    }
}

fn confirm(state: &OptIn) -> Result<OptInConfirmed, &'static str> {
    match (state.valid, state.confirmed) {
        (_, true) => Err("already confirmed"),
        (false, false) => Err("no valid token"),
        (true, false) => Ok(OptInConfirmed {
            email: state.email.clone(),
        }),
    }
}

#[test]
fn a_parameter_is_given_to_new_and_read_by_the_handlers() {
    block_on(async {
        let store = InMemoryStore::new();
        let email = Email("ada@example.com".into());
        let issued = OptInTokenIssued {
            email: email.clone(),
            at: 1_000,
        };
        store
            .append(vec![issued.to_event().unwrap()], None)
            .await
            .unwrap();

        let late = decide(&store, OptIn::new(email.clone(), 1_601), confirm).await;
        assert_eq!(late.unwrap_err().rejected(), Some("no valid token"));

        let in_time = decide(&store, OptIn::new(email.clone(), 1_600), confirm).await;
        assert_eq!(in_time.unwrap(), Position::new(2));

        let state = dcb_core::load(&store, OptIn::new(email, 1_600))
            .await
            .unwrap();
        assert_eq!(state.seen, [at(1), at(2)]);
        assert!(state.confirmed);
    });
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
struct InvoiceCreated {
    number: u64,
}

/// The last invoice number: the latest `InvoiceCreated` is enough.
#[decision(global, latest)]
#[derive(Clone)]
struct LastInvoice {
    number: u64,
    /// How many events the handler was given.
    folded: u32,
}

#[decision]
impl LastInvoice {
    fn created(&mut self, event: &InvoiceCreated) {
        self.number = event.number;
        self.folded += 1;
    }
}

// `decide` takes a command returning `Result`; this one never refuses.
#[allow(clippy::unnecessary_wraps)]
fn create_invoice(
    last: &LastInvoice,
) -> Result<Returning<InvoiceCreated, u64>, std::convert::Infallible> {
    let number = last.number + 1;
    Ok(Returning::new(InvoiceCreated { number }, number))
}

#[test]
fn a_latest_event_decision_folds_only_the_latest_event() {
    block_on(async {
        let store = InMemoryStore::new();
        for expected in 1..=5 {
            let (position, number) = decide(&store, LastInvoice::new(), create_invoice)
                .await
                .unwrap();
            assert_eq!(number, expected);
            assert_eq!(position, Position::new(expected));
        }
        let state = dcb_core::load(&store, LastInvoice::new()).await.unwrap();
        assert_eq!((state.number, state.folded), (5, 1));
        assert_eq!(LastInvoice::LATEST.map(std::num::NonZero::get), Some(1));
    });
}

#[test]
fn a_latest_event_decision_conflicts_with_an_event_after_its_read() {
    block_on(async {
        let store = InMemoryStore::new();
        decide(&store, LastInvoice::new(), create_invoice)
            .await
            .unwrap();
        let mine = prepare(&store, LastInvoice::new(), create_invoice)
            .await
            .unwrap();
        let theirs = prepare(&store, LastInvoice::new(), create_invoice)
            .await
            .unwrap();
        assert_eq!((mine.value, theirs.value), (2, 2));
        theirs.append(&store).await.unwrap();
        let lost = mine.append(&store).await.unwrap_err();
        assert_eq!(lost.conflicting_position(), Position::new(2));

        // With retry, the loser reads again and takes the next number.
        let decider = Decider::new(&store).retry(Retry::attempts(3));
        let (_, number) = decider
            .decide(LastInvoice::new(), create_invoice)
            .await
            .unwrap();
        assert_eq!(number, 3);
        let numbers: Vec<u64> = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .unwrap()
            .events
            .iter()
            .map(|e| InvoiceCreated::from_event(e).unwrap().number)
            .collect();
        assert_eq!(numbers, [1, 2, 3]);
    });
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
struct PriceChanged {
    #[tag]
    product: Sku,
    cents: u64,
}

#[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
struct Sku(String);

/// The last three prices of a product, oldest first.
#[decision(latest = 3)]
struct RecentPrices {
    #[boundary]
    product: Sku,
    cents: Vec<u64>,
}

#[decision]
impl RecentPrices {
    fn changed(&mut self, event: &PriceChanged) {
        self.cents.push(event.cents);
    }
}

#[test]
fn latest_n_folds_the_last_n_events_in_position_order() {
    block_on(async {
        let store = InMemoryStore::new();
        let (apple, pear) = (Sku("apple".into()), Sku("pear".into()));
        for cents in [10, 20, 30, 40, 50] {
            let events = vec![
                PriceChanged {
                    product: apple.clone(),
                    cents,
                }
                .to_event()
                .unwrap(),
                PriceChanged {
                    product: pear.clone(),
                    cents: cents + 1,
                }
                .to_event()
                .unwrap(),
            ];
            store.append(events, None).await.unwrap();
        }
        let state = dcb_core::load(&store, RecentPrices::new(apple))
            .await
            .unwrap();
        assert_eq!(state.cents, [30, 40, 50]);
    });
}

#[test]
fn the_test_kit_hands_back_the_value_of_a_latest_event_decision() {
    let number = given((InvoiceCreated { number: 1 }, InvoiceCreated { number: 2 }))
        .when(LastInvoice::new(), create_invoice)
        .then(InvoiceCreated { number: 3 });
    assert_eq!(number, 3);
}

#[test]
fn the_test_kit_runs_a_decision_with_a_parameter() {
    let ada = Email("ada@example.com".into());
    let bob = Email("bob@example.com".into());
    let issued = |email: &Email, at| OptInTokenIssued {
        email: email.clone(),
        at,
    };
    given(issued(&ada, 1_000))
        .unseen(issued(&bob, 1_500))
        .when(OptIn::new(ada.clone(), 1_601), confirm)
        .then_error(&"no valid token");
    given(issued(&ada, 1_000))
        .when(OptIn::new(ada.clone(), 1_600), confirm)
        .then(OptInConfirmed { email: ada });
}
