//! The test kit as a test uses it: events the decision must not see
//! (`unseen`), the diff a wrong `then` shows, and failures located at the
//! test's own line.

use std::cell::{Cell, RefCell};
use std::ops::RangeInclusive;
use std::panic::{self, UnwindSafe};
use std::sync::Once;

use dcb_core::testkit::given;
use dcb_core::{Event, Id, decision};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
#[id(prefix = "email")]
struct EmailAddress(String);

#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
struct SubscriptionRequested {
    #[tag]
    email: EmailAddress,
    list: String,
}

#[derive(Event, Serialize, Deserialize, PartialEq, Debug, Clone)]
struct SubscriptionConfirmed {
    #[tag]
    email: EmailAddress,
}

/// A double opt-in: an address confirms a subscription it requested, once.
#[decision]
#[derive(Debug)]
struct OptIn {
    #[boundary]
    email: EmailAddress,
    requested: bool,
    confirmed: bool,
}

#[decision]
impl OptIn {
    fn requested(&mut self, _: &SubscriptionRequested) {
        self.requested = true;
    }

    fn confirmed(&mut self, _: &SubscriptionConfirmed) {
        self.confirmed = true;
    }
}

#[derive(Debug, PartialEq)]
enum Refusal {
    NotRequested,
    AlreadyConfirmed,
}

fn confirm(state: &OptIn) -> Result<SubscriptionConfirmed, Refusal> {
    if !state.requested {
        Err(Refusal::NotRequested)
    } else if state.confirmed {
        Err(Refusal::AlreadyConfirmed)
    } else {
        Ok(confirmed(&state.email))
    }
}

fn email(address: &str) -> EmailAddress {
    EmailAddress::new(address).expect("a valid address")
}

fn requested(email: &EmailAddress) -> SubscriptionRequested {
    SubscriptionRequested {
        email: email.clone(),
        list: "news".to_owned(),
    }
}

fn confirmed(email: &EmailAddress) -> SubscriptionConfirmed {
    SubscriptionConfirmed {
        email: email.clone(),
    }
}

#[test]
fn an_event_of_another_email_address_is_ignored() {
    let (ada, bob) = (email("ada@example.com"), email("bob@example.com"));
    given(())
        .unseen(requested(&bob))
        .when(OptIn::new(ada.clone()), confirm)
        .then_error(&Refusal::NotRequested);
    // Interleaved as a store holds them: Bob's confirmation comes between
    // Ada's request and her confirmation, and still does not count.
    given(requested(&ada))
        .unseen((requested(&bob), confirmed(&bob)))
        .and(confirmed(&ada))
        .when(OptIn::new(ada.clone()), confirm)
        .then_error(&Refusal::AlreadyConfirmed);
    given(requested(&ada))
        .unseen(confirmed(&bob))
        .when(OptIn::new(ada.clone()), confirm)
        .then(confirmed(&ada));
}

#[test]
#[should_panic(
    expected = "unseen event 1 (SubscriptionConfirmed with tags {\"email:ada@example.com\"}) is \
                selected by the decision's query: the decision handles SubscriptionConfirmed \
                and the event carries its boundary tag(s) [\"email:ada@example.com\"]; the \
                boundary does not exclude it"
)]
fn an_unseen_event_the_decision_selects_fails_the_test() {
    let ada = email("ada@example.com");
    given(requested(&ada))
        .unseen(confirmed(&ada))
        .when(OptIn::new(ada.clone()), confirm)
        .then_error(&Refusal::AlreadyConfirmed);
}

#[test]
#[should_panic(
    expected = "the decision appended other events than expected (- expected, \
                           + appended):\n  SubscriptionConfirmed\n-   tags: [\"email:bob@example.com\"]\n\
                           +   tags: [\"email:ada@example.com\"]\n    data: {\n\
                           -     \"email\": \"bob@example.com\"\n\
                           +     \"email\": \"ada@example.com\"\n    }\n"
)]
fn a_wrong_then_shows_the_difference_line_by_line() {
    let (ada, bob) = (email("ada@example.com"), email("bob@example.com"));
    given(requested(&ada))
        .when(OptIn::new(ada.clone()), confirm)
        .then(confirmed(&bob));
}

#[test]
#[should_panic(expected = "- (no events)\n+ SubscriptionConfirmed\n")]
fn an_unexpected_append_shows_in_the_diff() {
    let ada = email("ada@example.com");
    given(requested(&ada))
        .when(OptIn::new(ada.clone()), confirm)
        .then(());
}

thread_local! {
    /// Whether this thread's next panic is one a test is catching.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// Where this thread's caught panic happened.
    static CAUGHT_AT: RefCell<Option<(String, u32)>> = const { RefCell::new(None) };
}

/// Runs `f`, which must panic, and returns where it panicked: the file and
/// line the panic reports. Panics of other threads go to the hook that was
/// there before, as usual.
fn panic_location(f: impl FnOnce() + UnwindSafe) -> (String, u32) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCHING.get() {
                let at = info.location().map(|l| (l.file().to_owned(), l.line()));
                CAUGHT_AT.set(at);
            } else {
                previous(info);
            }
        }));
    });
    CATCHING.set(true);
    let outcome = panic::catch_unwind(f);
    CATCHING.set(false);
    assert!(outcome.is_err(), "the test kit did not fail the test");
    CAUGHT_AT
        .take()
        .expect("the panic hook saw where it panicked")
}

/// Asserts that a failure happened at `at`, a line of this file in `lines`:
/// the test's own, not one of the kit.
#[track_caller]
fn assert_in_the_test(at: (String, u32), lines: RangeInclusive<u32>) {
    let (file, line) = at;
    assert_eq!(
        file,
        file!(),
        "the failure points into the kit, not at the test"
    );
    assert!(
        lines.contains(&line),
        "line {line} is not the test's, {lines:?}"
    );
}

#[test]
fn a_failure_points_at_the_test_line() {
    let (ada, bob) = (email("ada@example.com"), email("bob@example.com"));
    let (a, b) = (ada.clone(), bob.clone());
    let from = line!();
    let at = panic_location(move || {
        // A given event the decision cannot see.
        given(requested(&b)).when(OptIn::new(a), confirm).then(());
    });
    assert_in_the_test(at, from..=line!());
    let a = ada.clone();
    let from = line!();
    let at = panic_location(move || {
        // An unseen event the decision sees.
        given(())
            .unseen(requested(&a))
            .when(OptIn::new(a.clone()), confirm)
            .then(confirmed(&a));
    });
    assert_in_the_test(at, from..=line!());
    let (a, b) = (ada.clone(), bob.clone());
    let from = line!();
    let at = panic_location(move || {
        // Other events than expected.
        given(requested(&a))
            .when(OptIn::new(a.clone()), confirm)
            .then(confirmed(&b));
    });
    assert_in_the_test(at, from..=line!());
    let (a, b) = (ada.clone(), bob.clone());
    let from = line!();
    let at = panic_location(move || {
        // A failure where events were expected.
        given(requested(&b))
            .when(OptIn::new(b.clone()), |_| {
                Err::<(), _>(Refusal::NotRequested)
            })
            .then(confirmed(&a));
    });
    assert_in_the_test(at, from..=line!());
    let a = ada.clone();
    let from = line!();
    let at = panic_location(move || {
        // A success where a refusal was expected.
        given(requested(&a))
            .when(OptIn::new(a.clone()), confirm)
            .then_error(&Refusal::AlreadyConfirmed);
    });
    assert_in_the_test(at, from..=line!());
}
