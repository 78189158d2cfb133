//! The rule for course and student names: visible text, so that a listing
//! shows each name as it was registered and no name can disguise another.
//!
//! Refused are control characters, line and paragraph separators, and
//! format characters (Unicode category Cf): bidirectional overrides,
//! embeddings, isolates and marks, zero-width spaces and joiners, the byte
//! order mark, soft hyphens, tag characters. Each is invisible or changes
//! how the text around it is shown, so `"Ada\u{202E}sdrawkcab"` would be
//! listed as "Adabackwards".

use crate::EnrolmentError;

/// Why a name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name is empty or only whitespace.
    #[error("a name cannot be empty or only whitespace")]
    Blank,
    /// The name holds a character that is not shown, or that changes how
    /// the text around it is shown.
    #[error(
        "character {position} is U+{:04X}, {}; a name must be visible text",
        u32::from(*.character),
        describe(*.character)
    )]
    InvisibleCharacter {
        /// The character.
        character: char,
        /// Where it is: 1 for the name's first character (counting Unicode
        /// scalar values, not bytes).
        position: usize,
    },
}

/// Checks a course or student name and returns it without surrounding
/// whitespace; the error says which character is refused and where.
pub fn check_name(name: &str) -> Result<String, EnrolmentError> {
    let invalid = |problem| EnrolmentError::InvalidName {
        name: name.to_owned(),
        problem,
    };
    if let Some((index, character)) = name.chars().enumerate().find(|&(_, c)| is_refused(c)) {
        return Err(invalid(NameProblem::InvisibleCharacter {
            character,
            position: index + 1,
        }));
    }
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(invalid(NameProblem::Blank));
    }
    Ok(trimmed.to_owned())
}

fn is_refused(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || is_format(c)
}

/// What kind of refused character `c` is, for the message.
fn describe(c: char) -> &'static str {
    match c {
        '\u{2028}' | '\u{2029}' => "a line or paragraph separator",
        '\u{061C}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}' => "a bidirectional formatting character",
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => "a zero-width character",
        c if c.is_control() => "a control character",
        _ => "an invisible formatting character",
    }
}

/// The format characters (general category Cf) of Unicode 15.1.
const FORMAT: [(char, char); 21] = [
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

fn is_format(c: char) -> bool {
    FORMAT
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(name: &str) -> Option<NameProblem> {
        match check_name(name) {
            Ok(_) => None,
            Err(EnrolmentError::InvalidName { problem, .. }) => Some(problem),
            Err(other) => panic!("not an invalid name: {other}"),
        }
    }

    fn refused_at(name: &str) -> Option<(u32, usize)> {
        match problem(name) {
            Some(NameProblem::InvisibleCharacter {
                character,
                position,
            }) => Some((u32::from(character), position)),
            _ => None,
        }
    }

    #[test]
    fn visible_names_are_kept_without_surrounding_whitespace() {
        assert_eq!(check_name("  Ada Lovelace ").unwrap(), "Ada Lovelace");
        for name in [
            "Zoë",
            "Łukasz",
            "محمد",
            "שָׁלוֹם",
            "李小龍",
            "Ω 🦀",
            "e\u{301}",
        ] {
            assert_eq!(check_name(name).unwrap(), name, "{name:?}");
        }
    }

    #[test]
    fn blank_names_are_refused() {
        for name in ["", " ", "\u{3000}\u{a0} "] {
            assert_eq!(problem(name), Some(NameProblem::Blank), "{name:?}");
        }
    }

    // Issue 21: a right-to-left override or a zero-width space was accepted,
    // so one name could be listed looking like another. Every such
    // character is refused, and the error says which and where.
    #[test]
    fn invisible_and_reordering_characters_are_refused_with_their_position() {
        let cases = [
            ("Ada\u{202E}sdrawkcab", 0x202E, 4),
            ("\u{202A}x", 0x202A, 1),
            ("x\u{2066}y\u{2069}", 0x2066, 2),
            ("ab\u{200E}", 0x200E, 3),
            ("ab\u{200F}", 0x200F, 3),
            ("a\u{061C}", 0x061C, 2),
            ("A\u{200B}da", 0x200B, 2),
            ("A\u{200C}da", 0x200C, 2),
            ("A\u{200D}da", 0x200D, 2),
            ("\u{2060}Ada", 0x2060, 1),
            ("\u{FEFF}Ada", 0xFEFF, 1),
            ("Ad\u{AD}a", 0xAD, 3),
            ("Ada\u{E0041}", 0xE0041, 4),
            ("Ada\nBob", 0x0A, 4),
            ("Ada\u{1B}[2J", 0x1B, 4),
            ("Ada\u{85}", 0x85, 4),
            ("Ada\u{2028}Bob", 0x2028, 4),
            ("Zoë\u{202E}", 0x202E, 4),
        ];
        for (name, code, position) in cases {
            assert_eq!(refused_at(name), Some((code, position)), "{name:?}");
        }
    }

    #[test]
    fn the_message_names_the_character_and_where_it_is_without_showing_it() {
        let err = check_name("Ada\u{202E}sdrawkcab").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid name \"Ada\\u{202e}sdrawkcab\": character 4 is U+202E, \
             a bidirectional formatting character; a name must be visible text"
        );
        assert!(
            check_name("A\u{200B}")
                .unwrap_err()
                .to_string()
                .contains("character 2 is U+200B, a zero-width character")
        );
        assert!(
            check_name("   ")
                .unwrap_err()
                .to_string()
                .ends_with("a name cannot be empty or only whitespace")
        );
    }
}
