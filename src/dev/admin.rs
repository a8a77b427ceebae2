//! The SQL the cluster's superuser runs: databases and passwords.
//! Names reach SQL quoted (`quote_ident`), values as parameters or quoted literals.

use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

use super::error::ClusterError;
use super::passwords::scram_verifier;
use crate::config::Secret;

/// A connection as the superuser, for a few statements.
pub struct Session {
    client: Client,
    driver: JoinHandle<Result<(), tokio_postgres::Error>>,
}

impl Session {
    pub async fn open(url: &str) -> Result<Session, ClusterError> {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(failed("connecting as the superuser"))?;
        let driver = tokio::spawn(connection);
        Ok(Session { client, driver })
    }

    /// Closes the connection and waits until the server has seen it go, so what follows
    /// (dropping the database, say) does not find it still there.
    pub async fn close(self) {
        drop(self.client);
        let _ = self.driver.await;
    }

    /// Creates `database` unless it exists, owned by `owner` (by the superuser when none).
    pub async fn create_database(
        &self,
        database: &str,
        owner: Option<&str>,
    ) -> Result<(), ClusterError> {
        let context = format!("creating database {database}");
        let exists = self
            .client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
            .await
            .map_err(failed(&context))?
            .is_some();
        if !exists {
            let mut statement = format!("CREATE DATABASE {}", quote_ident(database));
            if let Some(owner) = owner {
                statement.push_str(&format!(" OWNER {}", quote_ident(owner)));
            }
            self.execute(&statement, &context).await?;
        }
        Ok(())
    }

    async fn execute(&self, statements: &str, context: &str) -> Result<(), ClusterError> {
        self.client
            .batch_execute(statements)
            .await
            .map_err(failed(context))
    }
}

/// The statement that gives `role` `password`, for single-user mode (one line, `;` ended).
pub fn set_password_statement(role: &str, password: &Secret) -> String {
    format!(
        "ALTER ROLE {} PASSWORD {};\n",
        quote_ident(role),
        quote_literal(&scram_verifier(password))
    )
}

/// `name` as an SQL identifier: double-quoted, inner quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `value` as an SQL string literal: single-quoted, inner quotes doubled (with
/// `standard_conforming_strings`, on since PostgreSQL 9.1, a backslash is just a backslash).
fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn failed(context: &str) -> impl FnOnce(tokio_postgres::Error) -> ClusterError {
    let context = context.to_string();
    move |source| ClusterError::Database { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_the_quote_and_nothing_else() {
        assert_eq!(quote_ident("maia"), "\"maia\"");
        assert_eq!(quote_ident("a\"b; DROP"), "\"a\"\"b; DROP\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn the_password_statement_carries_a_verifier_not_the_password() {
        let password = Secret::new("plain-text-password");
        let statement = set_password_statement("maia", &password);
        assert!(statement.starts_with("ALTER ROLE \"maia\" PASSWORD 'SCRAM-SHA-256$"));
        assert!(statement.ends_with(";\n"));
        assert!(!statement.contains("plain-text-password"));
    }
}
