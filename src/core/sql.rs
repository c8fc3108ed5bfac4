//! SQL text: the one home for quoting literals and identifiers, naming golang-migrate's
//! table, and the compare-and-set statement that clears a dirty row. The runbook prints
//! these, the adapters send them: both must quote the same way, so neither writes its own.

use super::migration_set::Version;

/// An SQL string literal. Doubling `'` is enough with `standard_conforming_strings` on (the
/// default); a value with a backslash is written as an `E''` literal, which reads the same
/// under either setting.
pub fn literal(value: &str) -> String {
    let doubled = value.replace('\'', "''");
    if value.contains('\\') {
        format!("E'{}'", doubled.replace('\\', "\\\\"))
    } else {
        format!("'{doubled}'")
    }
}

/// An SQL identifier, quoted unless it is a plain lowercase name.
pub fn identifier(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `schema_migrations`, qualified by the schema it was read in when that is not `public`.
pub fn migrations_table(schema: Option<&str>) -> String {
    match schema {
        Some(s) if s != "public" => format!("{}.schema_migrations", identifier(s)),
        _ => "schema_migrations".to_string(),
    }
}

/// The compare-and-set clean-up of a dirty `v` on `table` (already quoted or qualified): it
/// changes the row only while it still says `(v, dirty)`, and moves it back to the previous
/// migration `prev` (or deletes it when `v` is the first migration). No trailing `;`.
pub fn clear_dirty(table: &str, v: Version, prev: Option<Version>) -> String {
    match prev {
        Some(p) => {
            format!("UPDATE {table} SET version = {p}, dirty = false WHERE version = {v} AND dirty")
        }
        None => format!("DELETE FROM {table} WHERE version = {v} AND dirty"),
    }
}

/// The compare-and-set that keeps a dirty `v` whose effects are all in place: only the flag
/// is cleared, while the row still says `(v, dirty)`. No trailing `;`.
pub fn keep_dirty(table: &str, v: Version) -> String {
    format!("UPDATE {table} SET dirty = false WHERE version = {v} AND dirty")
}

/// The compare-and-set that rewinds a clean row from `v` to `to` (the remedy for a release set
/// that skipped migrations the target needs), while it still says `(v, clean)`. No `;`.
pub fn rewind(table: &str, v: Version, to: Version) -> String {
    format!("UPDATE {table} SET version = {to} WHERE version = {v} AND NOT dirty")
}

/// golang-migrate's table as its PostgreSQL driver creates it, with one clean row `(v,
/// false)` inserted only while the table holds no row: the row action for Coder's schema
/// without a row (a partial restore). Both statements end in `;`.
pub fn create_row(table: &str, v: Version) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); \
         INSERT INTO {table} (version, dirty) SELECT {v}, false WHERE NOT EXISTS (SELECT 1 FROM {table});"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_identifiers_are_escaped() {
        assert_eq!(literal("coder"), "'coder'");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal(r"a\'b"), r"E'a\\''b'");
        assert_eq!(literal("a\\b'c"), "E'a\\\\b''c'");
        assert_eq!(identifier("coder"), "coder");
        assert_eq!(identifier("Coder"), "\"Coder\"");
        assert_eq!(identifier("a\"b"), "\"a\"\"b\"");
        assert_eq!(identifier("1st"), "\"1st\"");
        assert_eq!(identifier(""), "\"\"");
        assert_eq!(migrations_table(Some("public")), "schema_migrations");
        assert_eq!(migrations_table(None), "schema_migrations");
        assert_eq!(
            migrations_table(Some("my schema")),
            "\"my schema\".schema_migrations"
        );
    }

    #[test]
    fn clear_dirty_is_a_compare_and_set() {
        assert_eq!(
            clear_dirty("public.schema_migrations", 68, Some(67)),
            "UPDATE public.schema_migrations SET version = 67, dirty = false WHERE version = 68 AND dirty"
        );
        assert_eq!(
            clear_dirty("\"My\".schema_migrations", 1, None),
            "DELETE FROM \"My\".schema_migrations WHERE version = 1 AND dirty"
        );
    }
}
