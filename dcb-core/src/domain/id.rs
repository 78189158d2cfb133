//! [`Identifier`]: typed ids whose values render as tags with a prefix.
//!
//! Declare one with `#[derive(Id)]` on a one-field tuple struct of a
//! [`Uuid`](uuid::Uuid), an integer or a `String`:
//!
//! ```
//! use dcb_core::{Id, Identifier};
//!
//! #[derive(Id, Clone, Copy, PartialEq, Eq, Hash, Debug)]
//! struct CourseId(dcb_core::Uuid);
//!
//! let id = CourseId::new();
//! assert_eq!(CourseId::PREFIX, "course");
//! assert_eq!(id.tag().as_str(), format!("course:{id}"));
//! assert_eq!(id.to_string().parse::<CourseId>()?, id);
//! # Ok::<(), dcb_core::ParseIdError>(())
//! ```

use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::str::FromStr;

use crate::Tag;

/// A typed identifier: a value that names one thing of the domain and
/// renders as the tag `PREFIX:value`.
///
/// Implemented by `#[derive(Id)]`; the prefix defaults to the type's name
/// without an `Id` suffix, in snake case (`CourseId` → `course`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an identifier",
    label = "not a typed id",
    note = "`#[tag]` and `#[boundary]` fields hold typed ids: declare one with `#[derive(Id)]` on a tuple struct with one field, such as `struct CourseId(Uuid);`, and use it here"
)]
pub trait Identifier:
    Clone + Eq + Hash + Debug + Display + FromStr + Send + Sync + 'static
{
    /// The tag prefix, such as `course`.
    const PREFIX: &'static str;

    /// The tag `PREFIX:value` that marks events about this id.
    fn tag(&self) -> Tag {
        self.tag_with_prefix(Self::PREFIX)
    }

    /// The tag `prefix:value`, for a tag field whose prefix is overridden.
    fn tag_with_prefix(&self, prefix: &str) -> Tag;

    /// Whether `tag` is this id's tag with `prefix`, without allocating.
    fn is_tag_with_prefix(&self, prefix: &str, tag: &Tag) -> bool;

    /// Whether `tag` is [`tag()`](Self::tag), without allocating.
    fn is_tag(&self, tag: &Tag) -> bool {
        self.is_tag_with_prefix(Self::PREFIX, tag)
    }
}

/// The error for text that is not a valid id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {id_type} {value:?}: {reason}")]
pub struct ParseIdError {
    /// The id type's name.
    pub id_type: &'static str,
    /// The rejected text.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The longest string id accepted, in bytes; leaves room for any prefix
/// within [`MAX_NAME_LEN`](crate::MAX_NAME_LEN).
pub const MAX_STRING_ID_LEN: usize = 192;

#[doc(hidden)]
pub mod support {
    //! Used by the code `#[derive(Id)]` generates.

    use std::fmt::Write as _;

    use super::{MAX_STRING_ID_LEN, ParseIdError};
    use crate::{Tag, Uuid};

    /// Makes the tag `prefix:value`. The derive checks prefixes at compile
    /// time and string ids are checked when made, so this cannot fail for a
    /// generated id; should it ever, the value is replaced by its escape so
    /// the tag stays valid and visibly wrong rather than panicking.
    pub fn tag(prefix: &str, value: impl std::fmt::Display) -> Tag {
        // Formatted on the stack: the tag's one allocation is its own.
        let mut text = TextBuf::<{ crate::MAX_NAME_LEN }>::new();
        let formatted = write!(text, "{prefix}:{value}").is_ok();
        let made = if formatted {
            Tag::new(text.as_str())
        } else {
            Tag::new(format!("{prefix}:{value}"))
        };
        made.unwrap_or_else(|err| {
            let escaped = format!("{prefix}:{}", err.value.escape_default());
            let truncated: String = escaped.chars().take(crate::MAX_NAME_LEN / 4).collect();
            Tag::new(truncated).unwrap_or(Tag::from_static("invalid-id"))
        })
    }

    /// The digits of a uuid's lower-case text.
    const HEX: &[u8; 16] = b"0123456789abcdef";

    /// Whether `tag` is `prefix:<uuid>`.
    #[must_use]
    pub fn is_uuid_tag(prefix: &str, id: &Uuid, tag: &Tag) -> bool {
        // Most tags a decision meets have another prefix or length: rule
        // them out before comparing any digit.
        let Some(value) = tag
            .as_str()
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix(':'))
        else {
            return false;
        };
        // The id's lower-case hyphenated form, compared digit by digit
        // without formatting it: a tag of another id differs in its first
        // digits, almost always.
        let value = value.as_bytes();
        if value.len() != uuid::fmt::Hyphenated::LENGTH {
            return false;
        }
        let mut at = 0;
        for (i, &byte) in id.as_bytes().iter().enumerate() {
            // The hyphens come before bytes 4, 6, 8 and 10: 8-4-4-4-12 digits.
            if matches!(i, 4 | 6 | 8 | 10) {
                if value.get(at) != Some(&b'-') {
                    return false;
                }
                at += 1;
            }
            let high = HEX[usize::from(byte >> 4)];
            let low = HEX[usize::from(byte & 0xf)];
            if value.get(at) != Some(&high) || value.get(at + 1) != Some(&low) {
                return false;
            }
            at += 2;
        }
        true
    }

    /// Whether `tag` is `prefix:<value>`.
    #[must_use]
    pub fn is_tag(prefix: &str, value: &str, tag: &Tag) -> bool {
        tag.as_str()
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix(':'))
            == Some(value)
    }

    /// Whether `tag` is `prefix:<n>` for an integer id.
    pub fn is_int_tag(prefix: &str, n: impl std::fmt::Display, tag: &Tag) -> bool {
        // Room for any integer's decimal digits and sign.
        let mut buf = TextBuf::<40>::new();
        let _ = write!(buf, "{n}");
        is_tag(prefix, buf.as_str(), tag)
    }

    /// Checks the text of a string id.
    pub fn check_string_id(id_type: &'static str, value: &str) -> Result<(), ParseIdError> {
        let reason = if value.is_empty() {
            "it is empty".to_owned()
        } else if value.len() > MAX_STRING_ID_LEN {
            format!(
                "it is {} bytes long; the maximum is {MAX_STRING_ID_LEN}",
                value.len()
            )
        } else if let Some((offset, _)) = value.char_indices().find(|(_, c)| c.is_control()) {
            format!("it contains a control character at byte {offset}")
        } else {
            return Ok(());
        };
        Err(ParseIdError {
            id_type,
            value: value.to_owned(),
            reason,
        })
    }

    /// A parse failure of a UUID or integer id.
    pub fn parse_error(
        id_type: &'static str,
        value: &str,
        cause: impl std::fmt::Display,
    ) -> ParseIdError {
        ParseIdError {
            id_type,
            value: value.to_owned(),
            reason: cause.to_string(),
        }
    }

    /// Text formatted into a fixed buffer of `N` bytes; writing more fails.
    struct TextBuf<const N: usize> {
        bytes: [u8; N],
        len: usize,
    }

    impl<const N: usize> TextBuf<N> {
        fn new() -> TextBuf<N> {
            TextBuf {
                bytes: [0; N],
                len: 0,
            }
        }

        fn as_str(&self) -> &str {
            std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
        }
    }

    impl<const N: usize> std::fmt::Write for TextBuf<N> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let end = self.len + s.len();
            let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
            slot.copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::support::is_uuid_tag;
    use crate::{Tag, Uuid};

    fn tag(text: &str) -> Tag {
        Tag::new(text).unwrap()
    }

    #[test]
    fn a_uuid_tag_is_its_prefix_and_lower_case_hyphenated_id() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        assert!(is_uuid_tag(
            "course",
            &id,
            &tag("course:01234567-89ab-cdef-fedc-ba9876543210")
        ));
        for other in [
            "student:01234567-89ab-cdef-fedc-ba9876543210",
            "course:01234567-89AB-CDEF-FEDC-BA9876543210",
            "course:01234567-89ab-cdef-fedc-ba9876543211",
            "course:01234567089ab-cdef-fedc-ba9876543210",
            "course:0123456789abcdeffedcba9876543210",
            "course:01234567-89ab-cdef-fedc-ba9876543210 ",
            "course01234567-89ab-cdef-fedc-ba9876543210",
            "course:",
        ] {
            assert!(!is_uuid_tag("course", &id, &tag(other)), "{other}");
        }
    }

    proptest! {
        /// The digit-by-digit comparison agrees with comparing the
        /// formatted id, for the id's own tag and for near misses.
        #[test]
        fn it_agrees_with_formatting_the_id(
            id in any::<u128>(),
            other in any::<u128>(),
            flip in 0usize..36,
        ) {
            let id = Uuid::from_u128(id);
            let own = format!("course:{}", id.hyphenated());
            prop_assert!(is_uuid_tag("course", &id, &tag(&own)));
            let mut near = own.into_bytes();
            near[7 + flip] = if near[7 + flip] == b'0' { b'1' } else { b'0' };
            let near = String::from_utf8(near).unwrap();
            prop_assert!(!is_uuid_tag("course", &id, &tag(&near)));
            let other = Uuid::from_u128(other);
            let theirs = format!("course:{}", other.hyphenated());
            prop_assert_eq!(is_uuid_tag("course", &id, &tag(&theirs)), id == other);
        }
    }
}
