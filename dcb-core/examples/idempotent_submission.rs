//! Preventing a duplicate submission with an idempotency key.
//!
//! A client that does not know whether its request arrived (a timeout, a
//! lost response) sends it again. So it picks a key for each request, an
//! `IdempotencyKey`, and sends it with every attempt. The rule: the first
//! submission with a key places the order; a repeat places nothing and is
//! answered with the order the first one placed — the same answer, so that
//! a client retrying after a lost response carries on as if it had got the
//! first one (refusing the repeat would tell it nothing it can act on). A
//! key sent again with another order is a mistake of the client's, and is
//! refused.
//!
//! The boundary is the key: `OrderPlaced` is tagged with it, and the
//! decision reads the orders placed with this key — at most one — and
//! appends under "no order placed with this key since the read". Of two
//! submissions racing with one key, the second fails to append, reads again
//! (`Decider` retries) and finds the first: answered as done. Other keys'
//! orders are neither read nor a conflict.
//!
//! Run it with `cargo run -p dcb-core --example idempotent_submission`; its
//! tests, with 16 clients submitting with one key at once, with
//! `cargo test -p dcb-core --example idempotent_submission`.

use dcb_core::embedded::EmbeddedStore;
use dcb_core::{DecideError, Decider, Event, Id, Retry, Returning, decision, load};
use serde::{Deserialize, Serialize};

/// Chosen by the client, once per request.
#[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
struct IdempotencyKey(String);

#[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct OrderId(dcb_core::Uuid);

/// A client's request, with its key.
#[derive(Clone, Debug)]
struct PlaceOrder {
    key: IdempotencyKey,
    item: String,
    quantity: u32,
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
struct OrderPlaced {
    #[tag]
    key: IdempotencyKey,
    #[tag]
    order_id: OrderId,
    item: String,
    quantity: u32,
}

/// The order placed with a key, if any.
#[decision]
#[derive(Clone)]
struct Submission {
    #[boundary]
    key: IdempotencyKey,
    placed: Option<OrderPlaced>,
}

#[decision]
impl Submission {
    fn order_placed(&mut self, event: &OrderPlaced) {
        self.placed = Some(event.clone());
    }
}

/// Places the order as `new_id`, or answers a repeat with the order placed
/// already; either way hands back the order's id.
fn place(
    submission: &Submission,
    request: &PlaceOrder,
    new_id: OrderId,
) -> Result<Returning<Option<OrderPlaced>, OrderId>, &'static str> {
    match &submission.placed {
        None => {
            let order = OrderPlaced {
                key: request.key.clone(),
                order_id: new_id,
                item: request.item.clone(),
                quantity: request.quantity,
            };
            Ok(Returning::new(Some(order), new_id))
        }
        Some(placed) if (&placed.item, placed.quantity) == (&request.item, request.quantity) => {
            Ok(Returning::new(None, placed.order_id))
        }
        Some(_) => Err("the key was used for another order"),
    }
}

/// Submits a request as a server would, with a new order id that only a
/// first submission keeps, and retries when a submission with the same key
/// gets in first.
async fn submit(
    store: &EmbeddedStore,
    request: &PlaceOrder,
) -> Result<OrderId, DecideError<&'static str>> {
    let new_id = OrderId::new();
    let decider = Decider::new(store).retry(Retry::attempts(20));
    let submission = Submission::new(request.key.clone());
    let (_, order_id) = decider
        .decide(submission, |s| place(s, request, new_id))
        .await?;
    Ok(order_id)
}

/// Every order placed: a view, not a decision.
#[decision(global)]
struct AllOrders {
    ids: Vec<OrderId>,
}

#[decision]
impl AllOrders {
    fn order_placed(&mut self, event: &OrderPlaced) {
        self.ids.push(event.order_id);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = EmbeddedStore::open(dir.path())?;
    let (k1, k2) = (IdempotencyKey::new("k-1")?, IdempotencyKey::new("k-2")?);
    let request = |key: &IdempotencyKey, item: &str, quantity| PlaceOrder {
        key: key.clone(),
        item: item.to_owned(),
        quantity,
    };
    let attempts = [
        ("a first request", request(&k1, "tea", 2)),
        ("its retry, after a lost response", request(&k1, "tea", 2)),
        ("key k-1 again, for coffee", request(&k1, "coffee", 1)),
        ("another request", request(&k2, "tea", 2)),
    ];
    for (what, request) in attempts {
        match submit(&store, &request).await {
            Ok(order_id) => println!("{what}: order {order_id}"),
            Err(DecideError::Rejected(why)) => println!("{what}: refused, {why}"),
            Err(other) => return Err(other.into()),
        }
    }
    let orders = load(&store, AllOrders::new()).await?;
    println!("orders placed: {}", orders.ids.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use dcb_core::testkit::given;

    use super::*;

    fn key(text: &str) -> IdempotencyKey {
        IdempotencyKey::new(text).expect("a valid key")
    }

    fn request(key_text: &str, item: &str, quantity: u32) -> PlaceOrder {
        let (key, item) = (key(key_text), item.to_owned());
        PlaceOrder {
            key,
            item,
            quantity,
        }
    }

    fn placed(request: &PlaceOrder, order_id: OrderId) -> OrderPlaced {
        OrderPlaced {
            key: request.key.clone(),
            order_id,
            item: request.item.clone(),
            quantity: request.quantity,
        }
    }

    #[test]
    fn the_first_submission_places_the_order() {
        let (tea, id) = (request("k-1", "tea", 2), OrderId::new());
        let answer = given(())
            .when(Submission::new(key("k-1")), |s| place(s, &tea, id))
            .then(placed(&tea, id));
        assert_eq!(answer, id);
    }

    #[test]
    fn a_repeat_places_nothing_and_is_answered_with_the_order_placed() {
        let (tea, first, again) = (request("k-1", "tea", 2), OrderId::new(), OrderId::new());
        let answer = given(placed(&tea, first))
            .when(Submission::new(key("k-1")), |s| place(s, &tea, again))
            .then(());
        assert_eq!(answer, first);
    }

    #[test]
    fn a_key_sent_again_with_another_order_is_refused() {
        let tea = request("k-1", "tea", 2);
        let coffee = request("k-1", "coffee", 2);
        given(placed(&tea, OrderId::new()))
            .when(Submission::new(key("k-1")), |s| {
                place(s, &coffee, OrderId::new())
            })
            .then_error(&"the key was used for another order");
    }

    #[test]
    fn another_keys_order_is_ignored() {
        let (tea, id) = (request("k-1", "tea", 2), OrderId::new());
        let other = request("k-2", "tea", 2);
        given(())
            .unseen(placed(&other, OrderId::new()))
            .when(Submission::new(key("k-1")), |s| place(s, &tea, id))
            .then(placed(&tea, id));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sixteen_clients_submitting_with_one_key_place_one_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let tea = request("k-1", "tea", 2);
        let clients: Vec<_> = (0..16)
            .map(|_| {
                let (store, tea) = (store.clone(), tea.clone());
                tokio::spawn(async move { submit(&store, &tea).await })
            })
            .collect();
        let mut answers = Vec::new();
        for client in clients {
            answers.push(client.await.unwrap().expect("every client is answered"));
        }
        let orders = load(&store, AllOrders::new()).await.unwrap();
        assert_eq!(orders.ids.len(), 1, "one order placed");
        assert!(answers.iter().all(|id| *id == orders.ids[0]), "{answers:?}");
    }
}
