//! The catalog reader: one query (`sql/catalog.sql`) that returns the objects of the current
//! schema as one JSON document, normalized by [`crate::core::schema::Catalog::from_raw`]. The
//! same reader serves `index effects` (on its scratch database) and `verify` (live), so the
//! two normalize identically by construction.
//!
//! Live safety: it runs in the read-only session of `check --db`, after the survey found no
//! migration holding Coder's lock, and under `lock_timeout`: everything it calls reads the
//! catalogs or the syscache except `pg_get_viewdef`, which takes ACCESS SHARE on each view, so
//! a session holding ACCESS EXCLUSIVE on a view makes it fail after `lock_timeout` (reported as
//! "schema not verified"), never wait.
//!
//! The query leaves out objects that belong to an extension (the extension itself is
//! listed), golang-migrate's own `schema_migrations`, and PostgreSQL 18's NOT NULL rows in
//! `pg_constraint` (contype 'n': the columns carry NOT NULL, as on 13 to 17). The SQL file
//! holds no comments: the server logs it as sent, and it must read as the one SELECT it is.

use crate::core::schema::{Catalog, RawObject};
use crate::error::{Error, Result};

/// The catalog query.
pub const CATALOG_SQL: &str = include_str!("sql/catalog.sql");

/// Decodes the query's one value.
pub fn parse(text: &str, schema: &str) -> Result<Catalog> {
    let rows: Vec<RawObject> = serde_json::from_str(text)
        .map_err(|e| Error::internal(format!("the catalog query returned unexpected JSON: {e}")))?;
    Ok(Catalog::from_raw(&rows, schema))
}
