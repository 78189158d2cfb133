//! Two Rust types that claim one stored event type name: the registry
//! reports both, with where they are declared. (A test binary of its own,
//! since the duplicate makes the whole binary's registry invalid.)

use dcb_core::{Event, registry};
use serde::{Deserialize, Serialize};

mod billing {
    use super::{Deserialize, Event, Serialize};

    #[derive(Event, Serialize, Deserialize)]
    pub struct InvoiceSent {
        pub amount: u64,
    }
}

mod shipping {
    use super::{Deserialize, Event, Serialize};

    #[derive(Event, Serialize, Deserialize)]
    #[event(name = "InvoiceSent")]
    pub struct ParcelSent {
        pub weight: u64,
    }
}

#[test]
fn validate_reports_every_claimant_of_a_duplicated_name() {
    let _ = (
        billing::InvoiceSent { amount: 1 },
        shipping::ParcelSent { weight: 2 },
    );
    let err = registry::validate().unwrap_err();
    assert_eq!(err.duplicates.len(), 1);
    let duplicate = &err.duplicates[0];
    assert_eq!(duplicate.event_type, "InvoiceSent");
    let mut claimants: Vec<&str> = duplicate
        .claimed_by
        .iter()
        .map(|(rust_type, _)| *rust_type)
        .collect();
    claimants.sort_unstable();
    assert_eq!(
        claimants,
        [
            "registry_duplicates::billing::InvoiceSent",
            "registry_duplicates::shipping::ParcelSent"
        ]
    );
    assert!(
        duplicate
            .claimed_by
            .iter()
            .all(|(_, at)| at.contains("registry_duplicates.rs:"))
    );
    let message = err.to_string();
    assert!(message.contains("#[event(name"), "{message}");
    assert!(
        registry::find("InvoiceSent").is_none(),
        "an ambiguous name finds nothing"
    );
}
