//! A one-time opt-in token that expires.
//!
//! The rule: an address opts in by confirming the token sent to it, once,
//! within ten minutes of its issue; a confirmed address gets no new token.
//!
//! The boundary is the email address: the token's issue and the
//! confirmation are tagged with it, so the decision about one address reads
//! its tokens and its confirmation, and nothing of any other address. The
//! time is an input of the decision (`#[param] now`) and the time of issue
//! is in the event, so the expiry is decided in the projection and no clock
//! is read inside it: a test states the time. The token presented is a
//! parameter too.
//!
//! Run it with `cargo run -p dcb-core --example opt_in_token`, and its
//! tests (with 8 clients confirming one token at once) with
//! `cargo test -p dcb-core --example opt_in_token`.

use std::time::{SystemTime, UNIX_EPOCH};

use dcb_core::embedded::EmbeddedStore;
use dcb_core::{Event, Id, Outcome, Projection, Uuid, decide, decision};
use serde::{Deserialize, Serialize};

/// How long a token stays valid, in seconds.
const VALID_FOR: u64 = 10 * 60;

#[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
struct Email(String);

#[derive(Event, Serialize, Deserialize, Debug)]
struct TokenIssued {
    #[tag]
    email: Email,
    token: Uuid,
    /// Seconds since the Unix epoch.
    at: u64,
}

#[derive(Event, Serialize, Deserialize, Debug)]
struct OptInConfirmed {
    #[tag]
    email: Email,
}

/// Where the opt-in of `email` stands for `token`, at `now`.
#[decision]
#[derive(Clone)]
struct OptIn {
    #[boundary]
    email: Email,
    #[param]
    token: Uuid,
    #[param]
    now: u64,
    status: Status,
}

#[derive(Default, Clone, Copy, PartialEq, Debug)]
enum Status {
    #[default]
    NoSuchToken,
    Valid,
    Expired,
    Confirmed,
}

#[decision]
impl OptIn {
    fn issued(&mut self, event: &TokenIssued) {
        if event.token == self.token {
            let valid = self.now <= event.at + VALID_FOR;
            self.status = if valid {
                Status::Valid
            } else {
                Status::Expired
            };
        }
    }

    fn confirmed(&mut self, _: &OptInConfirmed) {
        self.status = Status::Confirmed;
    }
}

#[derive(Debug, PartialEq, thiserror::Error)]
enum Refusal {
    #[error("no such token was sent to this address")]
    NoSuchToken,
    #[error("the token has expired")]
    Expired,
    #[error("the address is confirmed already")]
    Confirmed,
}

/// Issues the decision's token to its address, at its `now`.
fn issue(opt_in: &OptIn) -> Result<TokenIssued, Refusal> {
    if opt_in.status == Status::Confirmed {
        return Err(Refusal::Confirmed);
    }
    Ok(TokenIssued {
        email: opt_in.email.clone(),
        token: opt_in.token,
        at: opt_in.now,
    })
}

fn confirm(opt_in: &OptIn) -> Result<OptInConfirmed, Refusal> {
    match opt_in.status {
        Status::Valid => Ok(OptInConfirmed {
            email: opt_in.email.clone(),
        }),
        Status::NoSuchToken => Err(Refusal::NoSuchToken),
        Status::Expired => Err(Refusal::Expired),
        Status::Confirmed => Err(Refusal::Confirmed),
    }
}

fn email(address: &str) -> Email {
    Email::new(address).expect("a valid address")
}

/// Runs one step of the scenario and prints what became of it.
async fn step<P: Projection, R: Outcome>(
    store: &EmbeddedStore,
    what: &str,
    decision: P,
    command: fn(&P) -> Result<R, Refusal>,
) {
    match decide(store, decision, command).await {
        Ok(_) => println!("{what}: done"),
        Err(refusal) => println!("{what}: refused, {refusal}"),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = EmbeddedStore::open(dir.path())?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    // The decision about an address, for a token, some minutes from now.
    let at = |minutes: u64| now + minutes * 60;
    let ada = |token, minutes| OptIn::new(email("ada@example.com"), token, at(minutes));
    let bob = |token, minutes| OptIn::new(email("bob@example.com"), token, at(minutes));
    let (token, guess, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());

    step(&store, "issue a token to ada", ada(token, 0), issue).await;
    step(&store, "confirm ada, a guess", ada(guess, 1), confirm).await;
    step(&store, "confirm ada at 5 min", ada(token, 5), confirm).await;
    step(&store, "confirm ada again", ada(token, 6), confirm).await;
    step(&store, "issue ada a new token", ada(guess, 7), issue).await;
    step(&store, "issue a token to bob", bob(other, 0), issue).await;
    step(&store, "confirm bob at 11 min", bob(other, 11), confirm).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use dcb_core::testkit::given;
    use dcb_core::{DecideError, Decider, Retry};

    use super::*;

    const TOKEN: Uuid = Uuid::from_u128(1);

    fn issued(address: &str, at: u64) -> TokenIssued {
        TokenIssued {
            email: email(address),
            token: TOKEN,
            at,
        }
    }

    fn confirmed(address: &str) -> OptInConfirmed {
        OptInConfirmed {
            email: email(address),
        }
    }

    fn ada_at(now: u64) -> OptIn {
        OptIn::new(email("ada@example.com"), TOKEN, now)
    }

    #[test]
    fn a_token_is_issued_to_an_address_not_yet_confirmed() {
        given(())
            .when(ada_at(1_000), issue)
            .then(issued("ada@example.com", 1_000));
        given((
            issued("ada@example.com", 1_000),
            confirmed("ada@example.com"),
        ))
        .when(ada_at(2_000), issue)
        .then_error(&Refusal::Confirmed);
    }

    #[test]
    fn a_token_confirms_within_ten_minutes_of_its_issue() {
        given(issued("ada@example.com", 1_000))
            .when(ada_at(1_600), confirm)
            .then(confirmed("ada@example.com"));
    }

    #[test]
    fn a_token_confirms_nothing_after_ten_minutes() {
        given(issued("ada@example.com", 1_000))
            .when(ada_at(1_601), confirm)
            .then_error(&Refusal::Expired);
    }

    #[test]
    fn a_token_confirms_only_once() {
        given((
            issued("ada@example.com", 1_000),
            confirmed("ada@example.com"),
        ))
        .when(ada_at(1_100), confirm)
        .then_error(&Refusal::Confirmed);
    }

    #[test]
    fn another_token_confirms_nothing() {
        let guess = Uuid::from_u128(2);
        given(issued("ada@example.com", 1_000))
            .when(OptIn::new(email("ada@example.com"), guess, 1_100), confirm)
            .then_error(&Refusal::NoSuchToken);
    }

    #[test]
    fn a_token_sent_to_another_address_is_ignored() {
        given(())
            .unseen(issued("bob@example.com", 1_000))
            .when(ada_at(1_100), confirm)
            .then_error(&Refusal::NoSuchToken);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_8_clients_confirming_one_token_exactly_one_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        decide(&store, ada_at(1_000), issue).await.unwrap();
        let clients: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let decider = Decider::new(&store).retry(Retry::attempts(8));
                    decider.decide(ada_at(1_100), confirm).await
                })
            })
            .collect();
        let (mut succeeded, mut refused) = (0, 0);
        for client in clients {
            match client.await.unwrap() {
                Ok(_) => succeeded += 1,
                Err(DecideError::Rejected(Refusal::Confirmed)) => refused += 1,
                Err(other) => panic!("a client failed: {other:?}"),
            }
        }
        assert_eq!((succeeded, refused), (1, 7));
    }
}
