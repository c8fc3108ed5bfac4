//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the same property
//! checks the fuzz targets run (`migtag::fuzz`), so every input the fuzzer kept, and every
//! crash it found once, is checked on each `cargo test`. The fuzzer itself runs by hand
//! (README, "Fuzzing").

use std::path::Path;

#[test]
fn every_corpus_input_keeps_its_parsers_properties() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, check) in migtag::fuzz::TARGETS {
        let dir = root.join(name);
        let mut n = 0;
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{name}: {} breaks a property",
                path.display()
            );
            n += 1;
        }
        assert!(n >= 5, "{name}: the corpus holds only {n} inputs");
    }
}
