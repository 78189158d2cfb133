//! Unique username: register, change, and release on deletion.
//!
//! The rule: no two accounts hold one username at a time. A name is taken
//! once registered or changed to, and free again once changed away from or
//! once its account is deleted.
//!
//! The boundary is the username itself: every event that takes or frees a
//! name is tagged with it, so the decision about `ada` reads exactly the
//! events about `ada` and conflicts with nothing else. A change is one
//! event tagged with the old and the new name, so the decisions about
//! either read it: it frees the one and takes the other, atomically.
//!
//! Run it with `cargo run -p dcb-core --example unique_username`, and its
//! tests (with a race of 16 clients for one name) with
//! `cargo test -p dcb-core --example unique_username`.

use dcb_core::embedded::EmbeddedStore;
use dcb_core::{Event, Id, Outcome, Projection, decide, decision};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
struct Username(String);

#[derive(Event, Serialize, Deserialize, Debug)]
struct AccountRegistered {
    #[tag]
    username: Username,
}

/// Tagged with both names: the decisions about either one read it.
#[derive(Event, Serialize, Deserialize, Debug)]
struct UsernameChanged {
    #[tag]
    old: Username,
    #[tag]
    new: Username,
}

#[derive(Event, Serialize, Deserialize, Debug)]
struct AccountDeleted {
    #[tag]
    username: Username,
}

/// Whether a username is taken.
#[decision]
#[derive(Clone)]
struct Claim {
    #[boundary]
    username: Username,
    taken: bool,
}

#[decision]
impl Claim {
    fn registered(&mut self, _: &AccountRegistered) {
        self.taken = true;
    }

    fn changed(&mut self, event: &UsernameChanged) {
        // This name is the change's old name or its new one.
        self.taken = event.new == self.username;
    }

    fn deleted(&mut self, _: &AccountDeleted) {
        self.taken = false;
    }
}

#[derive(Debug, PartialEq, thiserror::Error)]
enum Refusal {
    #[error("the username {0} is taken")]
    Taken(Username),
    #[error("no account has the username {0}")]
    NoAccount(Username),
}

fn register(claim: &Claim) -> Result<AccountRegistered, Refusal> {
    if claim.taken {
        return Err(Refusal::Taken(claim.username.clone()));
    }
    Ok(AccountRegistered {
        username: claim.username.clone(),
    })
}

/// One decision over both names: the old one must be held, the new one free.
fn change((old, new): &(Claim, Claim)) -> Result<UsernameChanged, Refusal> {
    if !old.taken {
        return Err(Refusal::NoAccount(old.username.clone()));
    }
    if new.taken {
        return Err(Refusal::Taken(new.username.clone()));
    }
    Ok(UsernameChanged {
        old: old.username.clone(),
        new: new.username.clone(),
    })
}

fn delete(claim: &Claim) -> Result<AccountDeleted, Refusal> {
    if !claim.taken {
        return Err(Refusal::NoAccount(claim.username.clone()));
    }
    Ok(AccountDeleted {
        username: claim.username.clone(),
    })
}

fn name(name: &str) -> Username {
    Username::new(name).expect("a valid username")
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
    let claim = |username: &str| Claim::new(name(username));

    step(&store, "register ada", claim("ada"), register).await;
    step(&store, "register ada again", claim("ada"), register).await;
    let rename = (claim("ada"), claim("grace"));
    step(&store, "change ada to grace", rename, change).await;
    step(&store, "register ada (free)", claim("ada"), register).await;
    step(&store, "register grace", claim("grace"), register).await;
    step(&store, "delete grace", claim("grace"), delete).await;
    step(&store, "register grace (free)", claim("grace"), register).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use dcb_core::testkit::given;
    use dcb_core::{DecideError, Decider, Retry};

    use super::*;

    fn registered(username: &str) -> AccountRegistered {
        AccountRegistered {
            username: name(username),
        }
    }

    fn changed(old: &str, new: &str) -> UsernameChanged {
        UsernameChanged {
            old: name(old),
            new: name(new),
        }
    }

    #[test]
    fn a_free_name_is_registered_whatever_other_names_are_taken() {
        given(())
            .unseen(registered("bob"))
            .when(Claim::new(name("ada")), register)
            .then(registered("ada"));
    }

    #[test]
    fn a_taken_name_is_refused() {
        given(registered("ada"))
            .when(Claim::new(name("ada")), register)
            .then_error(&Refusal::Taken(name("ada")));
    }

    #[test]
    fn a_change_takes_the_new_name() {
        given(registered("ada"))
            .when((Claim::new(name("ada")), Claim::new(name("bob"))), change)
            .then(changed("ada", "bob"));
        given(())
            .unseen(registered("ada"))
            .and(changed("ada", "bob"))
            .when(Claim::new(name("bob")), register)
            .then_error(&Refusal::Taken(name("bob")));
    }

    #[test]
    fn a_change_frees_the_old_name() {
        given((registered("ada"), changed("ada", "bob")))
            .when(Claim::new(name("ada")), register)
            .then(registered("ada"));
    }

    #[test]
    fn a_change_to_a_taken_name_or_from_a_free_one_is_refused() {
        given((registered("ada"), registered("bob")))
            .when((Claim::new(name("ada")), Claim::new(name("bob"))), change)
            .then_error(&Refusal::Taken(name("bob")));
        given((registered("ada"), changed("ada", "bob")))
            .when((Claim::new(name("ada")), Claim::new(name("cy"))), change)
            .then_error(&Refusal::NoAccount(name("ada")));
    }

    #[test]
    fn a_deleted_account_frees_its_name() {
        given(registered("ada"))
            .when(Claim::new(name("ada")), delete)
            .then(AccountDeleted {
                username: name("ada"),
            });
        given((
            registered("ada"),
            AccountDeleted {
                username: name("ada"),
            },
        ))
        .when(Claim::new(name("ada")), register)
        .then(registered("ada"));
    }

    #[test]
    fn deleting_an_account_that_does_not_exist_is_refused() {
        given(())
            .unseen(registered("bob"))
            .when(Claim::new(name("ada")), delete)
            .then_error(&Refusal::NoAccount(name("ada")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_16_clients_claiming_one_name_exactly_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let clients: Vec<_> = (0..16)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let decider = Decider::new(&store).retry(Retry::attempts(16));
                    decider.decide(Claim::new(name("ada")), register).await
                })
            })
            .collect();
        let (mut won, mut taken) = (0, 0);
        for client in clients {
            match client.await.unwrap() {
                Ok(_) => won += 1,
                Err(DecideError::Rejected(Refusal::Taken(_))) => taken += 1,
                Err(other) => panic!("a client failed: {other:?}"),
            }
        }
        assert_eq!((won, taken), (1, 15));
    }
}
