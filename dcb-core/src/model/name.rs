//! Validated names: [`EventType`] and [`Tag`].
//!
//! Both are short strings that stores index and compare constantly, so both
//! are cheap to clone (a static reference or one reference-counted
//! allocation) and validated once, on construction.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

/// The longest event type or tag accepted, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 256;

/// Which kind of name failed validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameKind {
    /// An [`EventType`].
    EventType,
    /// A [`Tag`].
    Tag,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::EventType => "event type",
            NameKind::Tag => "tag",
        })
    }
}

/// What is wrong with a rejected name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name is the empty string.
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    TooLong {
        /// The name's length in bytes.
        len: usize,
    },
    /// The name contains a control character (such as a newline or NUL).
    ControlCharacter {
        /// The byte offset of the control character.
        offset: usize,
    },
}

/// An event type or tag that failed validation, with the offending value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("invalid {kind} {value:?}: {}", describe(*.problem))]
pub struct InvalidName {
    /// Whether an event type or a tag was rejected.
    pub kind: NameKind,
    /// The rejected value.
    pub value: String,
    /// What is wrong with it.
    pub problem: NameProblem,
}

fn describe(problem: NameProblem) -> String {
    match problem {
        NameProblem::Empty => "it is empty; give a non-empty name".to_owned(),
        NameProblem::TooLong { len } => {
            format!("it is {len} bytes long; the maximum is {MAX_NAME_LEN}")
        }
        NameProblem::ControlCharacter { offset } => {
            format!("it contains a control character at byte {offset}; remove it")
        }
    }
}

/// Checks a name; usable in constant evaluation so that
/// [`EventType::from_static`] can reject a bad literal at compile time.
const fn check(s: &str) -> Result<(), NameProblem> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(NameProblem::Empty);
    }
    if bytes.len() > MAX_NAME_LEN {
        return Err(NameProblem::TooLong { len: bytes.len() });
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // C0 controls and DEL are single bytes; C1 controls (U+0080..=U+009F)
        // are encoded as 0xC2 followed by 0x80..=0x9F.
        let c0_or_del = b < 0x20 || b == 0x7f;
        let c1 = b == 0xc2 && i + 1 < bytes.len() && bytes[i + 1] >= 0x80 && bytes[i + 1] <= 0x9f;
        if c0_or_del || c1 {
            return Err(NameProblem::ControlCharacter { offset: i });
        }
        i += 1;
    }
    Ok(())
}

/// The shared representation: a `'static` literal costs nothing to clone,
/// anything else is one reference-counted allocation.
#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Repr {
    fn as_str(&self) -> &str {
        match self {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

macro_rules! name_type {
    ($(#[$meta:meta])* $name:ident, $kind:expr) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(Repr);

        impl $name {
            /// Validates `value` and wraps it.
            pub fn new(value: impl Into<String> + AsRef<str>) -> Result<Self, InvalidName> {
                match check(value.as_ref()) {
                    Ok(()) => Ok(Self(Repr::Shared(Arc::from(value.as_ref())))),
                    Err(problem) => Err(InvalidName { kind: $kind, value: value.into(), problem }),
                }
            }

            /// Wraps a string literal without allocating.
            ///
            /// # Panics
            ///
            /// Panics if `value` is not valid. In a `const` item the check runs
            /// at compile time, so a bad literal fails the build.
            #[must_use]
            pub const fn from_static(value: &'static str) -> Self {
                match check(value) {
                    Ok(()) => Self(Repr::Static(value)),
                    Err(NameProblem::Empty) => panic!(concat!("empty ", stringify!($name))),
                    Err(NameProblem::TooLong { .. }) => {
                        panic!(concat!(stringify!($name), " longer than MAX_NAME_LEN bytes"))
                    }
                    Err(NameProblem::ControlCharacter { .. }) => {
                        panic!(concat!(stringify!($name), " contains a control character"))
                    }
                }
            }

            /// The name as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// The literal this name was made from with `from_static`, whose
            /// address identifies it for as long as the program runs.
            #[allow(dead_code)]
            pub(crate) fn static_str(&self) -> Option<&'static str> {
                match self.0 {
                    Repr::Static(s) => Some(s),
                    Repr::Shared(_) => None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.as_str() == other.as_str()
            }
        }

        impl Eq for $name {}

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.as_str().hash(state);
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                self.as_str()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl FromStr for $name {
            type Err = InvalidName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidName;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidName;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.as_str().to_owned()
            }
        }
    };
}

name_type!(
    /// The type of an event, such as `CourseRegistered`: 1 to
    /// [`MAX_NAME_LEN`] bytes of text without control characters.
    ///
    /// ```
    /// use dcb_core::EventType;
    ///
    /// const REGISTERED: EventType = EventType::from_static("CourseRegistered");
    /// assert_eq!(REGISTERED, EventType::new("CourseRegistered")?);
    /// assert!(EventType::new("").is_err());
    /// # Ok::<(), dcb_core::InvalidName>(())
    /// ```
    EventType,
    NameKind::EventType
);

name_type!(
    /// A tag on an event, such as `course:7f3c…`: 1 to [`MAX_NAME_LEN`]
    /// bytes of text without control characters.
    ///
    /// Tags mark the things an event is about; queries select events by tag.
    ///
    /// ```
    /// use dcb_core::Tag;
    ///
    /// let tag = Tag::new(format!("course:{}", 42))?;
    /// assert_eq!(tag.as_str(), "course:42");
    /// let err = Tag::new("bad\ntag").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid tag \"bad\\ntag\": it contains a control character at byte 3; remove it"
    /// );
    /// # Ok::<(), dcb_core::InvalidName>(())
    /// ```
    Tag,
    NameKind::Tag
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        assert!(Tag::new("course:7f3c").is_ok());
        assert!(EventType::new("Ünïcödé type").is_ok());
        assert!(Tag::new("x".repeat(MAX_NAME_LEN)).is_ok());
    }

    #[test]
    fn rejects_empty_long_and_control() {
        let e = Tag::new("").unwrap_err();
        assert_eq!(e.problem, NameProblem::Empty);
        assert_eq!(e.kind, NameKind::Tag);
        let e = EventType::new("y".repeat(MAX_NAME_LEN + 1)).unwrap_err();
        assert_eq!(
            e.problem,
            NameProblem::TooLong {
                len: MAX_NAME_LEN + 1
            }
        );
        assert_eq!(e.kind, NameKind::EventType);
        for (s, offset) in [("a\0b", 1), ("\tx", 0), ("ab\u{7f}", 2), ("é\u{85}", 2)] {
            let e = Tag::new(s).unwrap_err();
            assert_eq!(e.problem, NameProblem::ControlCharacter { offset }, "{s:?}");
            assert_eq!(e.value, s);
        }
    }

    #[test]
    fn static_and_shared_compare_equal() {
        const T: Tag = Tag::from_static("a:1");
        let shared = Tag::new("a:1").unwrap();
        assert_eq!(T, shared);
        let mut h1 = std::hash::DefaultHasher::new();
        let mut h2 = std::hash::DefaultHasher::new();
        T.hash(&mut h1);
        shared.hash(&mut h2);
        assert_eq!(h1.finish(), h2.finish());
    }
}
