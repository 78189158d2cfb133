//! An order at the price displayed to the customer, honoured for a grace
//! period after the price changes.
//!
//! The rule: an order at the displayed price is accepted if that price is
//! the product's current price, or was its price until less than ten
//! minutes ago — a customer who saw the old price just before a change
//! still gets it.
//!
//! The decision, `DisplayedPrice`, has the product as its boundary: it reads
//! that product's price changes and no other product's. The displayed price
//! and the time `now` are `#[param]`s, given to `new`, so the time rule lives
//! in the handler. Each change carries its time in the event (the store does
//! not record times yet). The order appends under "no price change of the
//! product since the read": an order stands only if the price history it
//! was checked against is still the history when it is stored. A price
//! change is a decision of its own, `Price`, which reads only the latest
//! change (`#[decision(latest)]`).
//!
//! Run it with `cargo run -p dcb-core --example order_at_displayed_price`;
//! its tests, with a price change racing orders on an embedded store, with
//! `cargo test -p dcb-core --example order_at_displayed_price`.

use dcb_core::embedded::EmbeddedStore;
use dcb_core::{DecideError, Event, Id, decide, decision};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
struct ProductId(String);

/// How long a replaced price is still honoured: ten minutes, in seconds.
const GRACE: u64 = 600;

/// A product's new price (the first one puts it on sale), and when it
/// changed, in seconds.
#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
struct ProductPriceChanged {
    #[tag]
    product_id: ProductId,
    cents: u64,
    at: u64,
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
struct ProductOrdered {
    #[tag]
    product_id: ProductId,
    cents: u64,
    at: u64,
}

/// Whether the price displayed to a customer is honoured `now`.
#[decision]
#[derive(Clone)]
struct DisplayedPrice {
    #[boundary]
    product_id: ProductId,
    #[param]
    displayed: u64,
    #[param]
    now: u64,
    current: Option<u64>,
    /// The displayed price was replaced less than `GRACE` ago.
    in_grace: bool,
}

#[decision]
impl DisplayedPrice {
    fn changed(&mut self, event: &ProductPriceChanged) {
        if self.current == Some(self.displayed) {
            self.in_grace = self.now < event.at + GRACE;
        }
        self.current = Some(event.cents);
    }
}

fn order(price: &DisplayedPrice) -> Result<ProductOrdered, &'static str> {
    let current = price.current.ok_or("the product is not for sale")?;
    if current != price.displayed && !price.in_grace {
        return Err("the displayed price is not valid");
    }
    Ok(ProductOrdered {
        product_id: price.product_id.clone(),
        cents: price.displayed,
        at: price.now,
    })
}

/// A product's current price: its latest change is enough.
#[decision(latest)]
struct Price {
    #[boundary]
    product_id: ProductId,
    #[param]
    now: u64,
    cents: Option<u64>,
}

#[decision]
impl Price {
    fn changed(&mut self, event: &ProductPriceChanged) {
        self.cents = Some(event.cents);
    }
}

fn change_price(price: &Price, cents: u64) -> Result<ProductPriceChanged, &'static str> {
    if price.cents == Some(cents) {
        return Err("the price is unchanged");
    }
    Ok(ProductPriceChanged {
        product_id: price.product_id.clone(),
        cents,
        at: price.now,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = EmbeddedStore::open(dir.path())?;
    let tea = ProductId::new("tea")?;
    for (at, cents) in [(0, 100), (1_000, 120)] {
        let price = Price::new(tea.clone(), at);
        decide(&store, price, |p| change_price(p, cents)).await?;
        println!("at {at:>5} s, tea costs {cents} cents");
    }
    for (now, displayed) in [(1_300, 100), (1_700, 100), (1_700, 120)] {
        let price = DisplayedPrice::new(tea.clone(), displayed, now);
        match decide(&store, price, order).await {
            Ok(_) => println!("at {now:>5} s, tea ordered at {displayed} cents"),
            Err(DecideError::Rejected(why)) => {
                println!("at {now:>5} s, no tea at {displayed} cents: {why}");
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use dcb_core::testkit::given;
    use dcb_core::{Decider, Position, Retry, load};

    use super::*;

    fn product(name: &str) -> ProductId {
        ProductId::new(name).expect("a valid product id")
    }

    fn changed(product_id: &ProductId, cents: u64, at: u64) -> ProductPriceChanged {
        let product_id = product_id.clone();
        ProductPriceChanged {
            product_id,
            cents,
            at,
        }
    }

    fn ordered(product_id: &ProductId, cents: u64, at: u64) -> ProductOrdered {
        let product_id = product_id.clone();
        ProductOrdered {
            product_id,
            cents,
            at,
        }
    }

    #[test]
    fn the_current_price_is_honoured() {
        let tea = product("tea");
        given((changed(&tea, 100, 0), changed(&tea, 120, 1_000)))
            .when(DisplayedPrice::new(tea.clone(), 120, 9_000), order)
            .then(ordered(&tea, 120, 9_000));
    }

    #[test]
    fn a_replaced_price_is_honoured_less_than_the_grace_period_after() {
        let tea = product("tea");
        let now = 1_000 + GRACE - 1;
        given((changed(&tea, 100, 0), changed(&tea, 120, 1_000)))
            .when(DisplayedPrice::new(tea.clone(), 100, now), order)
            .then(ordered(&tea, 100, now));
    }

    #[test]
    fn a_replaced_price_is_refused_once_the_grace_period_is_over() {
        let tea = product("tea");
        given((changed(&tea, 100, 0), changed(&tea, 120, 1_000)))
            .when(DisplayedPrice::new(tea.clone(), 100, 1_000 + GRACE), order)
            .then_error(&"the displayed price is not valid");
    }

    #[test]
    fn the_grace_period_runs_from_the_replacement_of_the_displayed_price() {
        let tea = product("tea");
        let now = 1_000 + GRACE - 1;
        // 100 was the price until 1_000: a change at 1_100 does not cut
        // its grace short.
        given((changed(&tea, 100, 0), changed(&tea, 120, 1_000)))
            .and(changed(&tea, 130, 1_100))
            .when(DisplayedPrice::new(tea.clone(), 100, now), order)
            .then(ordered(&tea, 100, now));
    }

    #[test]
    fn a_price_that_was_never_the_price_is_refused() {
        let tea = product("tea");
        given(changed(&tea, 100, 0))
            .when(DisplayedPrice::new(tea.clone(), 90, 10), order)
            .then_error(&"the displayed price is not valid");
    }

    #[test]
    fn a_product_without_a_price_is_not_for_sale() {
        given(())
            .when(DisplayedPrice::new(product("tea"), 100, 0), order)
            .then_error(&"the product is not for sale");
    }

    #[test]
    fn another_products_price_change_is_ignored() {
        let (tea, coffee) = (product("tea"), product("coffee"));
        given(changed(&tea, 100, 0))
            .unseen(changed(&coffee, 120, 1_000))
            .when(DisplayedPrice::new(tea.clone(), 100, 9_000), order)
            .then(ordered(&tea, 100, 9_000));
    }

    #[test]
    fn a_price_changes_to_another_price() {
        let tea = product("tea");
        given(())
            .when(Price::new(tea.clone(), 0), |p| change_price(p, 100))
            .then(changed(&tea, 100, 0));
        given(changed(&tea, 100, 0))
            .when(Price::new(tea.clone(), 1_000), |p| change_price(p, 120))
            .then(changed(&tea, 120, 1_000));
        given((changed(&tea, 100, 0), changed(&tea, 120, 1_000)))
            .when(Price::new(tea.clone(), 2_000), |p| change_price(p, 120))
            .then_error(&"the price is unchanged");
    }

    /// A product's price changes and orders, with their positions: the log
    /// the race is checked against.
    #[decision]
    struct History {
        #[boundary]
        product_id: ProductId,
        changes: Vec<(Position, ProductPriceChanged)>,
        orders: Vec<(Position, ProductOrdered)>,
    }

    #[decision]
    impl History {
        fn changed(&mut self, event: &ProductPriceChanged, position: Position) {
            self.changes.push((position, event.clone()));
        }

        fn ordered(&mut self, event: &ProductOrdered, position: Position) {
            self.orders.push((position, event.clone()));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn orders_racing_a_price_change_stand_only_if_valid_where_they_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        for name in ["tea", "coffee", "cocoa", "mate", "chai"] {
            race_a_price_change(&store, &product(name)).await;
        }
    }

    /// Eight orders, at the old price and the new, race a price change; each
    /// order stored must be valid against the changes stored before it.
    async fn race_a_price_change(store: &EmbeddedStore, tea: &ProductId) {
        decide(store, Price::new(tea.clone(), 0), |p| change_price(p, 100))
            .await
            .unwrap();
        // The change is stamped at 1_000 and the orders at 1_000 + GRACE,
        // when 100 is no longer honoured once the change is stored: which
        // orders stand depends only on where the store puts the change.
        let change = {
            let (store, tea) = (store.clone(), tea.clone());
            tokio::spawn(async move {
                decide(&store, Price::new(tea, 1_000), |p| change_price(p, 120)).await
            })
        };
        let orders: Vec<_> = [100, 120, 100, 120, 100, 120, 100, 120]
            .map(|displayed| {
                let (store, tea) = (store.clone(), tea.clone());
                tokio::spawn(async move {
                    let price = DisplayedPrice::new(tea, displayed, 1_000 + GRACE);
                    let decider = Decider::new(&store).retry(Retry::attempts(20));
                    decider.decide(price, order).await
                })
            })
            .into();
        change.await.unwrap().expect("the price changes");
        let mut accepted = 0;
        for outcome in orders {
            match outcome.await.unwrap() {
                Ok(_) => accepted += 1,
                Err(err) => assert_eq!(err.rejected(), Some("the displayed price is not valid")),
            }
        }

        let history = load(store, History::new(tea.clone())).await.unwrap();
        assert_eq!(history.orders.len(), accepted);
        for (position, stored) in &history.orders {
            // The decision again, from the changes stored before the order.
            let mut price = DisplayedPrice::new(tea.clone(), stored.cents, stored.at);
            for (_, change) in history.changes.iter().filter(|(at, _)| at < position) {
                price.changed(change);
            }
            assert_eq!(order(&price), Ok(stored.clone()), "the order at {position}");
        }
    }
}
