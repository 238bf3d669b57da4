//! Replays the committed corpus of the `frame` fuzz target (`fuzz/corpus/frame/`) and any past crash
//! (`fuzz/regressions/frame/`) as an ordinary test, so CI checks them without cargo-fuzz.

use std::path::Path;

#[test]
fn frame_corpus_replays_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut n = 0;
    for dir in ["corpus/frame", "regressions/frame"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            kafkaroo_wire::fuzzing::frame(&std::fs::read(&path).unwrap());
            n += 1;
        }
    }
    assert!(n >= 5, "the committed frame seeds are missing ({n} found)");
}
