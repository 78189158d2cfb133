use dcb_core::{Event, Id};
use serde::{Deserialize, Serialize};

#[derive(Id, Clone, PartialEq, Eq, Hash, Debug)]
struct Username(String);

// The advice the derive used to give for two fields of one id type: a
// prefix of its own for one of them, which hid the change from the
// decisions about the old name. `#[tag]` on both is right.
#[derive(Event, Serialize, Deserialize)]
struct UsernameChanged {
    #[tag]
    old: Username,
    #[tag(prefix = "username")]
    new: Username,
}

fn main() {}
