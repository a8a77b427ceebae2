//! The SQL the cluster's superuser runs: databases, the application role and passwords.
//! Names reach SQL quoted (`quote_ident`), values as parameters or quoted literals.

use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

use super::error::ClusterError;
use super::passwords::scram_verifier;
use crate::config::Secret;

/// The objects `owner` has in a database's `public` schema, and the migration history
/// wherever it is, as (`ALTER` keyword, schema, name). A sequence that belongs to a column
/// follows its table (alone it is refused), as do an extension's members.
const OWNED_OBJECTS: &str = "\
SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' \
         WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' \
         WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END, n.nspname::text, c.relname::text \
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
 WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = $1) \
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c') \
   AND (n.nspname = 'public' OR (c.relname = 'refinery_schema_history' \
        AND n.nspname NOT IN ('pg_catalog', 'information_schema'))) \
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
        AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e')) \
UNION ALL \
SELECT 'TYPE', n.nspname::text, t.typname::text \
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
 WHERE t.typowner = (SELECT oid FROM pg_roles WHERE rolname = $1) \
   AND n.nspname = 'public' AND t.typtype IN ('d', 'e', 'r') \
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass \
        AND d.objid = t.oid AND d.deptype = 'e') \
 ORDER BY 2, 3";

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

    /// Whether `query`, a catalog look-up by one name, finds `name`.
    async fn exists(&self, query: &str, name: &str, context: &str) -> Result<bool, ClusterError> {
        let found = self.client.query_opt(query, &[&name]).await;
        Ok(found.map_err(failed(context))?.is_some())
    }

    /// Creates `database` unless it exists, owned by `owner` (by the superuser when none).
    pub async fn create_database(
        &self,
        database: &str,
        owner: Option<&str>,
    ) -> Result<(), ClusterError> {
        let context = format!("creating database {database}");
        let exists = "SELECT 1 FROM pg_database WHERE datname = $1";
        if !self.exists(exists, database, &context).await? {
            let mut statement = format!("CREATE DATABASE {}", quote_ident(database));
            if let Some(owner) = owner {
                statement.push_str(&format!(" OWNER {}", quote_ident(owner)));
            }
            self.execute(&statement, &context).await?;
        }
        Ok(())
    }

    /// Makes `role` a role that logs in with `password` and can do nothing else a superuser
    /// could: no superuser, no new databases or roles, no replication, no bypassing
    /// row security. Run at every start, so a role changed by hand is set right again.
    pub async fn ensure_app_role(&self, role: &str, password: &Secret) -> Result<(), ClusterError> {
        let context = format!("setting up role {role}");
        let exists = "SELECT 1 FROM pg_roles WHERE rolname = $1";
        if !self.exists(exists, role, &context).await? {
            self.execute(&format!("CREATE ROLE {}", quote_ident(role)), &context)
                .await?;
        }
        let statement = format!(
            "ALTER ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION \
             NOBYPASSRLS PASSWORD {}",
            quote_ident(role),
            quote_literal(&scram_verifier(password))
        );
        self.execute(&statement, &context).await
    }

    /// Gives `database`, connected to in this session, to `owner`: the database, its
    /// `public` schema and what `previous` owns there (an older maia created them as the
    /// superuser, who cannot `REASSIGN OWNED`, being the bootstrap role).
    pub async fn hand_over_database(
        &self,
        database: &str,
        previous: &str,
        owner: &str,
    ) -> Result<(), ClusterError> {
        let context = format!("giving database {database} to {owner}");
        let owner = quote_ident(owner);
        let mut statements = format!(
            "ALTER DATABASE {} OWNER TO {owner};\nALTER SCHEMA public OWNER TO {owner};\n",
            quote_ident(database)
        );
        for row in self
            .client
            .query(OWNED_OBJECTS, &[&previous])
            .await
            .map_err(failed(&context))?
        {
            let (keyword, schema, name): (&str, &str, &str) = (row.get(0), row.get(1), row.get(2));
            statements.push_str(&format!(
                "ALTER {keyword} {}.{} OWNER TO {owner};\n",
                quote_ident(schema),
                quote_ident(name)
            ));
        }
        // One simple query is one transaction: everything is handed over, or nothing.
        self.execute(&statements, &context).await
    }

    /// Creates the extension pgvector in the database of this session if the server has
    /// it: maia's knowledge needs it, and only a superuser may create it (it is not a
    /// trusted extension). A server without it is left as it is: knowledge stays off.
    pub async fn enable_pgvector_if_there(&self) -> Result<(), ClusterError> {
        let available = "SELECT 1 FROM pg_available_extensions WHERE name = $1";
        if self
            .exists(available, "vector", "looking for pgvector")
            .await?
        {
            self.execute("CREATE EXTENSION IF NOT EXISTS vector", "creating pgvector")
                .await?;
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
