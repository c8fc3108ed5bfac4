//! Catalog objects: what the catalog reader returns, normalized so the same schema compares
//! equal whatever PostgreSQL major printed it, and the diff between two catalogs.
//!
//! A catalog is a sorted map from a key (`kind name`, schema-relative: `column users.email`,
//! `index idx_users_email`, `function insert_apikey_fail_if_user_deleted()`) to a normalized
//! definition. The generator (`index effects`) and `verify` build it from the same raw rows
//! through [`Catalog::from_raw`], so their normalization is identical by construction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One raw row of the catalog query: kind, name, definition as printed by the server, and a
/// body (function source, view query) that is only kept as a fingerprint.
pub type RawObject = (String, String, String, Option<String>);

/// Catalog objects by key, each with its normalized definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog(pub BTreeMap<String, String>);

/// What changed between two catalogs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogDiff {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub added: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub changed: BTreeMap<String, String>,
}

impl CatalogDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl Catalog {
    /// Normalizes the rows of the catalog query read in `schema`.
    pub fn from_raw(rows: &[RawObject], schema: &str) -> Catalog {
        let mut map = BTreeMap::new();
        for (kind, name, def, body) in rows {
            let def = strip_schema(&collapse_ws(def), schema);
            let def = match (kind.as_str(), body) {
                ("view" | "matview", Some(b)) => {
                    format!("{def} #{}", fingerprint(&loose(&strip_schema(b, schema))))
                }
                ("function", Some(b)) => format!("{def} #{}", fingerprint(&collapse_ws(b))),
                _ => def,
            };
            map.insert(format!("{kind} {name}"), def);
        }
        Catalog(map)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// One fingerprint of every object and definition: equal catalogs, equal fingerprints.
    /// `repair fix-row` compares the one it decided from with the one it reads inside its
    /// transaction.
    pub fn fingerprint(&self) -> String {
        let mut text = String::new();
        for (k, v) in &self.0 {
            text.push_str(k);
            text.push('\t');
            text.push_str(v);
            text.push('\n');
        }
        fingerprint(&text)
    }

    /// The changes that turn `self` into `after`.
    pub fn diff(&self, after: &Catalog) -> CatalogDiff {
        let mut d = CatalogDiff::default();
        for (k, v) in &after.0 {
            match self.0.get(k) {
                None => {
                    d.added.insert(k.clone(), v.clone());
                }
                Some(old) if old != v => {
                    d.changed.insert(k.clone(), v.clone());
                }
                _ => {}
            }
        }
        d.removed = self
            .0
            .keys()
            .filter(|k| !after.0.contains_key(*k))
            .cloned()
            .collect();
        d
    }

    /// Applies a diff (the fold that gives a release's expected schema).
    pub fn apply(&mut self, d: &CatalogDiff) {
        for k in &d.removed {
            self.0.remove(k);
        }
        for (k, v) in d.added.iter().chain(d.changed.iter()) {
            self.0.insert(k.clone(), v.clone());
        }
    }
}

/// The table a key belongs to (`column users.email` -> `users`), for keys that have one.
pub fn table_of(key: &str) -> Option<&str> {
    let (kind, name) = key.split_once(' ')?;
    match kind {
        "table" => Some(name),
        "column" | "constraint" | "trigger" => name.split_once('.').map(|(t, _)| t),
        _ => None,
    }
}

/// Runs of whitespace become one space; ends trimmed.
pub fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Removes `schema.` and `"schema".` qualifiers, so definitions are schema-relative.
pub fn strip_schema(s: &str, schema: &str) -> String {
    let mut out = s.to_string();
    for q in [
        format!("\"{}\".", schema.replace('"', "\"\"")),
        format!("{schema}."),
    ] {
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(at) = rest.find(&q) {
            result.push_str(&rest[..at]);
            let prev = result.chars().last();
            if prev.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"') {
                result.push_str(&q);
            }
            rest = &rest[at + q.len()..];
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// The view text reduced to what every major from 13 to 18 prints alike: the sorted words
/// of the query (tables, columns, functions, keywords), without the ones whose spelling
/// changed between majors, and without table qualifiers. PostgreSQL 13 prints `EXTRACT(epoch FROM x)` as
/// `date_part('epoch'::text, x)` (double precision; numeric since 14), 16 drops redundant
/// parentheses and casts, so neither punctuation, order nor those words can count. What stays
/// still tells a changed view apart: a different column, table, join or condition changes the
/// words. The view's column names are compared separately, in order; their types follow the
/// tables' (PostgreSQL 13 vs 14 differ for `EXTRACT`), so they are not compared.
fn loose(s: &str) -> String {
    const VARYING: &[&str] = &[
        "text",
        "date_part",
        "extract",
        "from",
        "double",
        "precision",
        "numeric",
        "character",
        "varying",
        "as",
    ];
    // 16 and newer leave out the table qualifier when the query reads one table.
    static QUALIFIER: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let qualifier = QUALIFIER.get_or_init(|| {
        regex::Regex::new(r#"(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")*")\."#).expect("valid regex")
    });
    let s = qualifier.replace_all(s, "");
    let mut words: Vec<String> = s
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty() && !VARYING.contains(w))
        .map(str::to_string)
        .collect();
    words.sort();
    words.join(" ")
}

/// FNV-1a, 64 bits, as 16 hex digits: stable across platforms and releases, enough to tell
/// two definitions apart (it is not a security boundary).
pub fn fingerprint(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(kind: &str, name: &str, def: &str, body: Option<&str>) -> RawObject {
        (
            kind.into(),
            name.into(),
            def.into(),
            body.map(str::to_string),
        )
    }

    #[test]
    fn schema_qualifiers_go_and_only_them() {
        assert_eq!(
            strip_schema(
                "CREATE INDEX a ON coder.users USING btree (coder_id)",
                "coder"
            ),
            "CREATE INDEX a ON users USING btree (coder_id)"
        );
        assert_eq!(
            strip_schema("x mycoder.t \"coder\".u", "coder"),
            "x mycoder.t u"
        );
    }

    #[test]
    fn views_compare_alike_across_printings() {
        let a = Catalog::from_raw(
            &[raw(
                "view",
                "v",
                "id uuid",
                Some(" SELECT (a.id)::text AS id, date_part('epoch'::text, a.t) AS s\n   FROM public.t a;"),
            )],
            "public",
        );
        let b = Catalog::from_raw(
            &[raw(
                "view",
                "v",
                "id uuid",
                Some("SELECT id AS id, EXTRACT(epoch FROM t) AS s FROM t a;"),
            )],
            "public",
        );
        assert_eq!(a, b);
        let c = Catalog::from_raw(
            &[raw(
                "view",
                "v",
                "id uuid",
                Some("SELECT a.x AS id, EXTRACT(epoch FROM a.t) AS s FROM t a;"),
            )],
            "public",
        );
        assert_ne!(a, c);
    }

    #[test]
    fn diff_and_apply_round_trip() {
        let a = Catalog::from_raw(
            &[
                raw("table", "t", "table", None),
                raw("column", "t.a", "int", None),
            ],
            "public",
        );
        let b = Catalog::from_raw(
            &[
                raw("table", "t", "table", None),
                raw("column", "t.a", "bigint", None),
                raw("index", "i", "CREATE INDEX i ON public.t (a)", None),
            ],
            "public",
        );
        let d = a.diff(&b);
        assert_eq!(
            d.changed.get("column t.a").map(String::as_str),
            Some("bigint")
        );
        assert_eq!(
            d.added.get("index i").map(String::as_str),
            Some("CREATE INDEX i ON t (a)")
        );
        let mut c = a.clone();
        c.apply(&d);
        assert_eq!(c, b);
        assert_eq!(b.diff(&a).removed, vec!["index i".to_string()]);
        assert_eq!(table_of("column t.a"), Some("t"));
    }
}
