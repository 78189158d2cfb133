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
//! # Ok::<(), dcb_core::id::ParseIdError>(())
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

    /// Whether `tag` is `prefix:<uuid>`.
    #[must_use]
    pub fn is_uuid_tag(prefix: &str, id: &Uuid, tag: &Tag) -> bool {
        // Most tags a decision meets have another prefix or length: rule
        // them out before formatting the id.
        let Some(value) = tag
            .as_str()
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix(':'))
        else {
            return false;
        };
        if value.len() != uuid::fmt::Hyphenated::LENGTH {
            return false;
        }
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        value == id.hyphenated().encode_lower(&mut buf)
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
