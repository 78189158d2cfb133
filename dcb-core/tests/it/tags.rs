//! Tags as the domain has them: several tags of one id type on one event
//! (the unique username, changed), and tags from nested data through a
//! `TagField` implemented here, downstream of `dcb-core`, with a
//! hand-written `HasTag`.

use dcb_core::{
    DecideError, Event, EventStore, HasTag, Id, Identifier, InMemoryStore, Query, QueryItem,
    ReadOptions, TagField, Tags, decide, decision,
};
use serde::{Deserialize, Serialize};

use crate::support::block_on;

#[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
struct Username(String);

fn username(name: &str) -> Username {
    Username::new(name).expect("a valid username")
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
struct UserRegistered {
    #[tag]
    username: Username,
}

/// Tagged with both names, so that the decisions about either one read it.
#[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
struct UsernameChanged {
    #[tag]
    old: Username,
    #[tag]
    new: Username,
}

/// Whether a username is taken.
#[decision]
#[derive(Clone)]
struct UsernameClaim {
    #[boundary]
    username: Username,
    taken: bool,
}

#[decision]
impl UsernameClaim {
    fn registered(&mut self, _: &UserRegistered) {
        self.taken = true;
    }

    fn changed(&mut self, event: &UsernameChanged) {
        // The event carries this username as its old name or its new one.
        self.taken = event.new == self.username;
    }
}

#[derive(Debug, PartialEq)]
enum Refusal {
    Taken(Username),
    NotRegistered(Username),
}

fn register(claim: &UsernameClaim) -> Result<UserRegistered, Refusal> {
    if claim.taken {
        return Err(Refusal::Taken(claim.username.clone()));
    }
    Ok(UserRegistered {
        username: claim.username.clone(),
    })
}

fn change((old, new): &(UsernameClaim, UsernameClaim)) -> Result<UsernameChanged, Refusal> {
    if !old.taken {
        return Err(Refusal::NotRegistered(old.username.clone()));
    }
    if new.taken {
        return Err(Refusal::Taken(new.username.clone()));
    }
    Ok(UsernameChanged {
        old: old.username.clone(),
        new: new.username.clone(),
    })
}

#[test]
fn a_username_change_frees_the_old_name_and_takes_the_new_one() {
    // Two `#[tag]` fields of one id type are two tags of one kind. The
    // derive used to refuse them and advise a prefix of its own for one
    // field, which compiled into a change that no decision about the old
    // name read: the old name was never freed.
    block_on(async {
        let store = InMemoryStore::new();
        let (alice, bob) = (username("alice"), username("bob"));
        decide(&store, UsernameClaim::new(alice.clone()), register)
            .await
            .expect("alice is free");
        let claims = (
            UsernameClaim::new(alice.clone()),
            UsernameClaim::new(bob.clone()),
        );
        decide(&store, claims, change)
            .await
            .expect("alice becomes bob");

        let changed = store
            .read_to_end(&Query::all(), ReadOptions::new())
            .await
            .unwrap()
            .events
            .pop()
            .expect("the change is stored");
        assert_eq!(changed.event_type(), UsernameChanged::NAME);
        assert_eq!(*changed.tags(), Tags::from([alice.tag(), bob.tag()]));

        decide(&store, UsernameClaim::new(alice.clone()), register)
            .await
            .expect("alice is free again");
        let bob_again = decide(&store, UsernameClaim::new(bob.clone()), register).await;
        assert!(
            matches!(&bob_again, Err(DecideError::Rejected(Refusal::Taken(name))) if *name == bob),
            "{bob_again:?}"
        );
    });
}

#[test]
fn a_change_to_a_taken_name_is_refused() {
    block_on(async {
        let store = InMemoryStore::new();
        let (alice, bob) = (username("alice"), username("bob"));
        for name in [&alice, &bob] {
            decide(&store, UsernameClaim::new(name.clone()), register)
                .await
                .unwrap();
        }
        let claims = (UsernameClaim::new(alice), UsernameClaim::new(bob.clone()));
        let outcome = decide(&store, claims, change).await;
        assert!(
            matches!(&outcome, Err(DecideError::Rejected(Refusal::Taken(name))) if *name == bob),
            "{outcome:?}"
        );
    });
}

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CartId(dcb_core::Uuid);

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct ProductId(dcb_core::Uuid);

/// Nested data with an id: its `TagField` is written here, in a crate
/// downstream of `dcb-core`, as a user's would be.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
struct CartLine {
    product_id: ProductId,
    quantity: u32,
}

impl TagField for CartLine {
    type Id = ProductId;

    fn for_each_id(&self, mut f: impl FnMut(&ProductId)) {
        f(&self.product_id);
    }
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
struct ProductAddedToCart {
    #[tag]
    cart_id: CartId,
    #[tag]
    line: CartLine,
}

// Every line names a product, so every `ProductAddedToCart` carries a
// product's tag: a decision about a product may handle it.
impl HasTag<ProductId> for ProductAddedToCart {}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug)]
struct CartCheckedOut {
    #[tag]
    cart_id: CartId,
    #[tag]
    lines: Vec<CartLine>,
    #[tag]
    gift: Option<CartLine>,
}

/// How many of a product the carts hold.
#[decision]
struct Reserved {
    #[boundary]
    product_id: ProductId,
    quantity: u32,
}

#[decision]
impl Reserved {
    fn added(&mut self, event: &ProductAddedToCart) {
        self.quantity += event.line.quantity;
    }
}

#[test]
fn nested_data_tags_the_event_with_each_id_it_holds() {
    let (cart_id, pen, ink, card) = (
        CartId::new(),
        ProductId::new(),
        ProductId::new(),
        ProductId::new(),
    );
    let line = |product_id, quantity| CartLine {
        product_id,
        quantity,
    };
    let checked_out = CartCheckedOut {
        cart_id,
        lines: vec![line(pen, 1), line(ink, 3)],
        gift: Some(line(card, 1)),
    };
    assert_eq!(
        checked_out.tags(),
        Tags::from([cart_id.tag(), pen.tag(), ink.tag(), card.tag()]),
    );
    let without = CartCheckedOut {
        cart_id,
        lines: vec![],
        gift: None,
    };
    assert_eq!(without.tags().len(), 1, "{:?}", without.tags());
}

#[test]
fn a_decision_about_a_product_reads_the_lines_that_name_it() {
    block_on(async {
        let store = InMemoryStore::new();
        let (pen, ink) = (ProductId::new(), ProductId::new());
        let add = |cart_id, product_id, quantity| ProductAddedToCart {
            cart_id,
            line: CartLine {
                product_id,
                quantity,
            },
        };
        let events = [
            add(CartId::new(), pen, 2),
            add(CartId::new(), ink, 5),
            add(CartId::new(), pen, 1),
        ]
        .iter()
        .map(|event| event.to_event().unwrap())
        .collect();
        store.append(events, None).await.unwrap();

        let query = Query::from(
            QueryItem::new()
                .types([ProductAddedToCart::EVENT_TYPE])
                .tags([pen.tag()]),
        );
        let mut seen = None;
        decide(&store, Reserved::new(pen), |reserved| {
            seen = Some(reserved.quantity);
            Ok::<_, ()>(())
        })
        .await
        .unwrap();
        assert_eq!(seen, Some(3), "the pen's two lines, not the ink's");
        assert_eq!(
            store
                .read_to_end(&query, ReadOptions::new())
                .await
                .unwrap()
                .events
                .len(),
            2
        );
    });
}
