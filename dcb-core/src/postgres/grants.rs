//! The privileges a role needs to use a store it did not create.

use super::ConnectError;
use super::migrate::{check_schema, quote, render};

/// The longest role name PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_ROLE_LEN: usize = 63;

/// The grants, for the schema `__SCHEMA__` and the role `__ROLE__`: what
/// the store's functions (which run with the caller's privileges) read and
/// write, and the functions themselves (which PostgreSQL lets every role
/// execute unless a database revokes it). Creating, altering or dropping
/// anything is left out: that is migrating.
const GRANTS_SQL: &str = "GRANT USAGE ON SCHEMA __SCHEMA__ TO __ROLE__;
GRANT SELECT, INSERT ON __SCHEMA__.events, __SCHEMA__.event_tags TO __ROLE__;
GRANT USAGE ON SEQUENCE __SCHEMA__.dcb_positions TO __ROLE__;
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
/// PostgreSQL keeps, or one with a NUL character. Any other name is quoted
/// as an identifier.
///
/// ```
/// let sql = dcb_core::postgres::grant_script("events", "booking app")?;
/// assert!(sql.contains("GRANT USAGE ON SCHEMA \"events\" TO \"booking app\";"));
/// # Ok::<(), dcb_core::postgres::ConnectError>(())
/// ```
pub fn grant_script(schema: &str, role: &str) -> Result<String, ConnectError> {
    check_schema(schema)?;
    if role.is_empty() || role.len() > MAX_ROLE_LEN || role.contains('\0') {
        return Err(ConnectError::InvalidRole {
            role: role.to_owned(),
        });
    }
    Ok(format!(
        "-- dcb PostgreSQL store: what role {} needs to use the store in schema {},\n\
         -- connecting with PostgresOptions::migrate(false). Run it again after each migration.\n\n{}",
        quote(role),
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
        for bad in ["", "a\0b", &"r".repeat(64)] {
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
}
