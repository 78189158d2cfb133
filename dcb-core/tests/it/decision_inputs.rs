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

/// A handler may take when the event was recorded, or its metadata: a time
/// rule needs no `at` field in the event, and a decision can see who did
/// what. `Decider::metadata` stamps the command's metadata on what it
/// appends.
mod recorded {
    use dcb_core::{
        Clock, Decider, Event, EventStore, Id, InMemoryStore, Metadata, Query, ReadOptions,
        Timestamp, decision,
    };
    use serde::{Deserialize, Serialize};

    use crate::support::block_on;

    #[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
    struct Email(String);

    #[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
    struct TokenIssued {
        #[tag]
        email: Email,
    }

    #[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
    struct TokenConfirmed {
        #[tag]
        email: Email,
    }

    /// A token is valid for ten minutes after the store recorded it, and
    /// is confirmed once: a second confirmation names the first one's user.
    #[decision]
    #[derive(Clone)]
    struct Confirmation {
        #[boundary]
        email: Email,
        #[param]
        now: Timestamp,
        issued_at: Option<Timestamp>,
        confirmed_by: Option<String>,
    }

    #[decision]
    impl Confirmation {
        fn issued(&mut self, _: &TokenIssued, recorded_at: Option<Timestamp>) {
            self.issued_at = recorded_at;
        }

        fn confirmed(&mut self, _: &TokenConfirmed, metadata: &Metadata) {
            self.confirmed_by = Some(metadata.get("user").unwrap_or("nobody").to_owned());
        }
    }

    fn confirm(c: &Confirmation) -> Result<TokenConfirmed, String> {
        if let Some(user) = &c.confirmed_by {
            return Err(format!("already confirmed by {user}"));
        }
        let expires = c
            .issued_at
            .ok_or("no token")?
            .saturating_add(std::time::Duration::from_mins(10));
        if c.now > expires {
            return Err("expired".to_owned());
        }
        Ok(TokenConfirmed {
            email: c.email.clone(),
        })
    }

    #[test]
    fn handlers_see_the_recorded_time_and_the_metadata() {
        block_on(async {
            let noon: Timestamp = "2026-12-05T12:00:00Z".parse().unwrap();
            let store = InMemoryStore::new().with_clock(Clock::fixed(noon));
            let email = Email("ada@example.com".into());
            let as_user = |user: &str| {
                Decider::new(&store).metadata(
                    Metadata::new()
                        .with("user", user)
                        .with(Metadata::CORRELATION, format!("req-{user}")),
                )
            };
            store
                .append(
                    vec![
                        TokenIssued {
                            email: email.clone(),
                        }
                        .to_event()
                        .unwrap(),
                    ],
                    None,
                )
                .await
                .unwrap();
            let at = |minutes: u64| {
                Confirmation::new(
                    email.clone(),
                    noon.saturating_add(std::time::Duration::from_mins(minutes)),
                )
            };
            let late = as_user("alice").decide(at(11), confirm).await;
            assert_eq!(late.unwrap_err().rejected(), Some("expired".to_owned()));
            as_user("alice").decide(at(9), confirm).await.unwrap();
            let again = as_user("bob").decide(at(9), confirm).await;
            assert_eq!(
                again.unwrap_err().rejected(),
                Some("already confirmed by alice".to_owned())
            );
            let stored = store
                .read_to_end(&Query::all(), ReadOptions::new())
                .await
                .unwrap();
            assert_eq!(stored.events[1].recorded_at, Some(noon));
            assert_eq!(stored.events[1].metadata().correlation(), Some("req-alice"));
        });
    }
}
