//! `migtag check` on the bundled index: the acceptance cases.

use crate::common::{migtag, run};

#[test]
fn version_165_recommends_v2_3_1() {
    let (out, _, code) = run(migtag().args(["check", "--version", "165", "--format", "json"]));
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["recommended"]["image"], "ghcr.io/coder/coder:v2.3.1");
}
