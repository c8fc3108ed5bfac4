//! The properties every parser of user input must keep, for any bytes: the fuzz targets
//! (`fuzz/fuzz_targets/*.rs`, run with cargo-fuzz) and the corpus replay in `cargo test`
//! (`tests/cli/fuzz_corpus.rs`) call these same functions, so what the fuzzer explored is
//! checked on every CI run.
//!
//! Each function panics when a property fails; a parser error is never a failure, only a
//! panic or a wrong exit code is.

use crate::error::ExitCode;

/// One parser's property check.
pub type Check = fn(&[u8]);

/// The parsers, by the name of their fuzz target and corpus folder.
pub const TARGETS: &[(&str, Check)] = &[
    ("psql", psql),
    ("index_json", index_json),
    ("manifest", manifest),
    ("conninfo", conninfo),
    ("image_ref", image_ref),
    ("tag", tag),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

fn assert_invalid_input(e: &crate::Error, what: &str) {
    assert_eq!(
        e.exit_code(),
        ExitCode::InvalidInput,
        "{what}: a refusal must be exit 12: {e}"
    );
}

/// A psql paste: a state, or invalid input (exit 12). A state read back from its own
/// aligned rendering is the same state.
pub fn psql(data: &[u8]) {
    let Some(t) = text(data) else { return };
    match crate::input::psql::parse(t) {
        Ok(crate::core::DbState::Clean(v)) => {
            let again = format!(" version | dirty\n---------+-------\n {v} | f\n(1 row)\n");
            assert_eq!(
                crate::input::psql::parse(&again).ok(),
                Some(crate::core::DbState::Clean(v))
            );
        }
        Ok(_) => {}
        Err(e) => assert_invalid_input(&e, "psql"),
    }
}

/// An index file: loads and survives its own round trip, or is invalid input.
pub fn index_json(data: &[u8]) {
    let Some(t) = text(data) else { return };
    match crate::core::Index::from_json(t) {
        Ok(index) => {
            let again = crate::core::Index::from_json(&index.to_json())
                .expect("an index that loaded loads again from its own JSON");
            assert_eq!(again.releases(), index.releases());
            // Every report built from it renders without panicking.
            let view = crate::core::report::IndexView::new(&index);
            let _ = crate::render::json(&view);
            for r in index.releases() {
                let _ = crate::core::report::day_of(r.date.as_deref().unwrap_or(""));
            }
        }
        Err(e) => assert_invalid_input(&e, "index"),
    }
}

/// A manifest: its Deployments' facts read, or invalid input.
pub fn manifest(data: &[u8]) {
    let Some(t) = text(data) else { return };
    match crate::adapters::kube::parse_manifest(t, "fuzz") {
        Ok(m) => {
            for d in &m.deployments {
                let container = d
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.spec.as_ref())
                    .and_then(|p| p.containers.first())
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                match crate::core::deployment::DeploymentFacts::from_deployment(d, &container) {
                    Ok(_) => {}
                    Err(e) => assert_invalid_input(&e, "deployment"),
                }
            }
        }
        Err(e) => assert_invalid_input(&e, "manifest"),
    }
}

/// A connection string (URL or key=value) and a libpq options string: pairs, or invalid
/// input; an error never repeats a password given in the string.
pub fn conninfo(data: &[u8]) {
    let Some(t) = text(data) else { return };
    match crate::input::conninfo::parse_conninfo(t) {
        Ok(pairs) => {
            for (k, v) in &pairs {
                if k == "options" {
                    let _ = crate::input::conninfo::option_settings(v);
                }
            }
        }
        Err(e) => {
            assert_invalid_input(&e, "conninfo");
            // The message may hold the password's characters only where it would hold them
            // whatever the password is (its fixed wording): compare with the same string
            // whose password is replaced by as many `Z`s.
            if let Some(pw) = password_in(t) {
                // Replaced where it stands (the same text may also occur elsewhere).
                let at = pw.as_ptr() as usize - t.as_ptr() as usize;
                let other = format!(
                    "{}{}{}",
                    &t[..at],
                    "Z".repeat(pw.len()),
                    &t[at + pw.len()..]
                );
                let fixed_wording = match crate::input::conninfo::parse_conninfo(&other) {
                    Err(e2) => e2.to_string().contains(pw),
                    Ok(_) => false,
                };
                assert!(
                    fixed_wording || !e.to_string().contains(pw),
                    "the error repeats the password: {e}"
                );
            }
        }
    }
}

/// The password of `scheme://user:PASSWORD@`, when long enough to be told apart.
fn password_in(t: &str) -> Option<&str> {
    let rest = t.split_once("://")?.1;
    let userinfo = rest.rsplit_once('@')?.0;
    let pw = userinfo.split_once(':')?.1;
    (pw.len() >= 8 && !pw.contains(['/', '?', '#'])).then_some(pw)
}

/// An image reference: parses and prints back to itself, or is invalid input.
pub fn image_ref(data: &[u8]) {
    let Some(t) = text(data) else { return };
    for parse in [
        crate::core::image_ref::ImageRef::parse,
        crate::core::image_ref::ImageRef::parse_repository,
    ] {
        match parse(t) {
            Ok(r) => {
                let printed = r.to_string();
                let again = parse(&printed).expect("a printed reference parses");
                assert_eq!(again, r, "{printed}");
            }
            Err(e) => assert_invalid_input(&e, "image reference"),
        }
    }
}

/// A release tag: a version whose `v` form parses to the same version, or invalid input.
pub fn tag(data: &[u8]) {
    let Some(t) = text(data) else { return };
    match crate::core::index::parse_tag(t) {
        Ok(v) => {
            let again = crate::core::index::parse_tag(&format!("v{v}")).expect("v<version> parses");
            assert_eq!(again, v);
        }
        Err(e) => assert_invalid_input(&e, "tag"),
    }
    // Durations are parsed from flags the same way: never a panic.
    let _ = crate::core::duration::parse(t);
}
