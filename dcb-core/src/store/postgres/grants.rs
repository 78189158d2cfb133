//! The privileges a role needs to use a store it did not create.

use super::ConnectError;
use super::identifier::role_problem;
use super::migrate::{check_schema, quote, render};

/// The grants, for the schema `__SCHEMA__` and the role `__ROLE__`: what
/// the store's functions (which run with the caller's privileges) read and
/// write, and the functions themselves (which PostgreSQL lets every role
/// execute unless a database revokes it). Creating, altering or dropping
/// anything is left out: that is migrating.
const GRANTS_SQL: &str = "GRANT USAGE ON SCHEMA __SCHEMA__ TO __ROLE__;
GRANT SELECT, INSERT ON __SCHEMA__.events, __SCHEMA__.event_tags TO __ROLE__;
GRANT USAGE ON SEQUENCE __SCHEMA__.dcb_positions TO __ROLE__;
GRANT SELECT, UPDATE ON SEQUENCE __SCHEMA__.dcb_last_recorded_at TO __ROLE__;
GRANT SELECT, INSERT, UPDATE ON __SCHEMA__.dcb_read_models TO __ROLE__;
GRANT SELECT ON __SCHEMA__.dcb_migrations TO __ROLE__;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA __SCHEMA__ TO __ROLE__;
";

/// The SQL that lets the role `role` use the store in `schema` — append,
/// read, subscribe and keep read models — without creating anything, for
/// applications that run as a role of their own and connect with
/// [`PostgresOptions::migrate`](super::PostgresOptions::migrate) off while
/// an operator migrates the schema ([`migration_script`](super::migration_script)).
/// Run it after the schema is migrated, and again after each later
/// migration (which may add functions). The inspector prints it too
/// (`dcb grants --role NAME --schema NAME`).
///
/// Errors: [`ConnectError::InvalidSchema`] for a bad schema name,
/// [`ConnectError::InvalidRole`] for an empty role name, one longer than
/// PostgreSQL keeps, one with a control character (such as a newline or a
/// bidirectional override), or `public` (which PostgreSQL reads as every
/// role). Any other name is quoted as an identifier, and is all of the
/// script that comes from the caller besides the checked schema name.
///
/// ```
/// let sql = dcb_core::postgres::grant_script("events", "booking app")?;
/// assert!(sql.contains("GRANT USAGE ON SCHEMA \"events\" TO \"booking app\";"));
/// # Ok::<(), dcb_core::postgres::ConnectError>(())
/// ```
pub fn grant_script(schema: &str, role: &str) -> Result<String, ConnectError> {
    check_schema(schema)?;
    if role_problem(role).is_some() {
        return Err(ConnectError::InvalidRole {
            role: role.to_owned(),
        });
    }
    // The comment names the schema (checked: a plain identifier) and not
    // the role, which the grants name, quoted.
    Ok(format!(
        "-- dcb PostgreSQL store: what a role needs to use the store in schema {},\n\
         -- connecting with PostgresOptions::migrate(false). Run it again after each migration.\n\n{}",
        quote(schema),
        render(GRANTS_SQL, schema).replace("__ROLE__", &quote(role))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_quoted_and_checked() {
        let sql = grant_script("dcb", "a\"b").unwrap();
        assert!(sql.contains("TO \"a\"\"b\";"), "{sql}");
        assert!(!sql.contains("__"), "every placeholder is filled: {sql}");
        for bad in ["", "a\0b", "a\nb", "public", &"r".repeat(64)] {
            assert!(matches!(
                grant_script("dcb", bad),
                Err(ConnectError::InvalidRole { .. })
            ));
        }
        assert!(matches!(
            grant_script("Bad-Schema", "app"),
            Err(ConnectError::InvalidSchema { .. })
        ));
    }

    /// Regression (issue 21): the script's first comment named the role,
    /// quoted but unchecked, so a newline in the name ended the comment
    /// and what followed it ran as a statement of its own ("app\nDROP
    /// TABLE x; --" dropped a table). Control characters are now refused,
    /// and the comment does not name the role: whatever a name accepted
    /// holds, it is one quoted identifier in the grants.
    #[test]
    fn a_role_name_adds_no_statement_to_the_script() {
        let template = grant_script("dcb", "r").unwrap();
        for role in [
            "app\nDROP TABLE x; --",
            "app\rDROP TABLE x; --",
            "app\u{85}DROP TABLE x; --",
            "app\u{2028}DROP TABLE x; --",
            "app\u{202E}; --",
            "app\"; DROP TABLE x; --",
            "app' ; DROP TABLE x; --",
            "app -- DROP TABLE x;",
            "app $$; DROP TABLE x; $$",
            "app\tb",
        ] {
            match grant_script("dcb", role) {
                Ok(sql) => {
                    // PostgreSQL ends a comment at either.
                    for line in sql.split(['\n', '\r']) {
                        assert!(
                            line.is_empty()
                                || line.starts_with("-- ")
                                || line.starts_with("GRANT "),
                            "{role:?}: a line of the script is not a comment or a grant: \
                             {line:?}\n{sql}"
                        );
                    }
                    assert_eq!(
                        sql,
                        template.replace("\"r\"", &quote(role)),
                        "{role:?} is in the script only as a quoted identifier"
                    );
                }
                Err(err) => {
                    assert!(matches!(err, ConnectError::InvalidRole { .. }), "{err:?}");
                    assert!(err.to_string().contains("control character"), "{err}");
                }
            }
        }
        for control in [
            "a\nb",
            "a\rb",
            "a\tb",
            "a\u{85}b",
            "a\u{1b}[2Jb",
            "a\u{2028}b",
            "a\u{202E}b",
        ] {
            assert!(
                grant_script("dcb", control).is_err(),
                "{control:?} is refused"
            );
        }
    }
}
