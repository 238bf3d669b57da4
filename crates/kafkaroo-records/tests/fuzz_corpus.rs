//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) and every past crash
//! (`fuzz/regressions/<target>/`) through the same entry points the cargo-fuzz targets call, so
//! CI catches regressions without a fuzzing toolchain.

use std::fs;
use std::path::{Path, PathBuf};

use kafkaroo_records::fuzzing;

fn entry(target: &str) -> Option<fn(&[u8])> {
    Some(match target {
        "batch_decoder" => fuzzing::batch_decoder,
        #[cfg(feature = "compression-gzip")]
        "gzip" => fuzzing::gzip,
        #[cfg(feature = "compression-snappy")]
        "snappy" => fuzzing::snappy,
        #[cfg(feature = "compression-lz4")]
        "lz4" => fuzzing::lz4,
        #[cfg(feature = "compression-zstd")]
        "zstd" => fuzzing::zstd,
        _ => return None,
    })
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn replay(kind: &str) -> usize {
    let root = fuzz_dir().join(kind);
    let Ok(targets) = fs::read_dir(&root) else {
        println!("no {}", root.display());
        return 0;
    };
    let mut n = 0;
    for target in targets {
        let target = target.expect("read dir").path();
        let name = target
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let Some(run) = entry(&name) else {
            // e.g. `frame`, owned by kafkaroo-wire, or a codec compiled out.
            println!("skipping {kind}/{name}: not a kafkaroo-records target in this build");
            continue;
        };
        let mut files: Vec<_> = fs::read_dir(&target)
            .expect("read target dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            let data = fs::read(&file).expect("read input");
            // Name the input if it panics.
            println!("{kind}/{name}/{}", file.file_name().unwrap().to_string_lossy());
            run(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn corpus_replays_cleanly() {
    let n = replay("corpus");
    println!("replayed {n} corpus inputs");
    assert!(n > 0, "the committed seed corpus is missing");
}

#[test]
fn regressions_replay_cleanly() {
    let n = replay("regressions");
    println!("replayed {n} regression inputs");
    // The committed crash inputs of this crate's targets (lz4, snappy; `frame` is kafkaroo-wire's).
    assert!(
        n >= 2,
        "the committed regression inputs are missing ({n} replayed)"
    );
}
