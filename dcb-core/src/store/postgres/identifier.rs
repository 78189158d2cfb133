//! The rules for names printed into SQL: what makes a role name unsafe to
//! print into a script.

/// The longest role name PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_ROLE_LEN: usize = 63;

/// What is wrong with `role` as the name of the role to grant to, if
/// anything. A quoted identifier may hold any character but NUL; control
/// characters are refused even so: no role should have them, and in a
/// script a line break starts a line of its own (in a comment, a statement)
/// and a bidirectional override makes it read otherwise than it runs.
/// `public` is refused because `TO "public"` grants to every role.
pub(super) fn role_problem(role: &str) -> Option<String> {
    if role.is_empty() {
        Some("it is empty; give the name of the role the application connects as".to_owned())
    } else if role.len() > MAX_ROLE_LEN {
        Some("it is longer than the 63 bytes PostgreSQL keeps of a name".to_owned())
    } else if let Some((at, c)) = role.char_indices().find(|&(_, c)| is_control(c)) {
        Some(format!(
            "it holds the control character U+{:04X} at byte {at} (a line break, a \
             bidirectional override or the like, which would change how the script reads); \
             check where the name came from",
            u32::from(c)
        ))
    } else if role == "public" {
        Some(
            "PostgreSQL reads the role \"public\" as every role; give the name of the role \
             the application connects as"
                .to_owned(),
        )
    } else {
        None
    }
}

/// A control character (C0, DEL, C1), a bidirectional formatting character
/// or a line or paragraph separator.
fn is_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}
