//! Replays the committed seeds of the SASL fuzz targets (`fuzz/corpus/<target>/`) and any past crash
//! (`fuzz/regressions/<target>/`) as an ordinary test, so CI checks them without cargo-fuzz.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8]), min_seeds: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut n = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            run(&std::fs::read(e.unwrap().path()).unwrap());
            n += 1;
        }
    }
    assert!(
        n >= min_seeds,
        "the committed {target} seeds are missing ({n} found)"
    );
}

#[test]
fn scram_client_corpus_replays_cleanly() {
    replay("scram_client", kafkaroo_sasl::fuzzing::scram_client, 10);
}

#[test]
fn sasl_jaas_corpus_replays_cleanly() {
    replay("sasl_jaas", kafkaroo_sasl::fuzzing::jaas, 7);
}

#[test]
fn oauthbearer_config_corpus_replays_cleanly() {
    replay(
        "oauthbearer_config",
        kafkaroo_sasl::fuzzing::oauthbearer_config,
        5,
    );
}

/// The success seeds really reach the end of the exchange (so the fuzzer starts from deep states).
#[test]
fn success_seeds_complete_the_exchange() {
    use kafkaroo_sasl::{ClientSession, Credentials, Mechanism, Step};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/scram_client");
    for (seed, mechanism) in [
        ("rfc7677-sha256-success", Mechanism::ScramSha256),
        ("sha512-success", Mechanism::ScramSha512),
    ] {
        let data = std::fs::read(root.join(seed)).unwrap();
        let mut parts = data[1..].split(|&b| b == 0);
        let mut s = ClientSession::scram_with_nonce(
            mechanism,
            &Credentials::new("user", "pencil"),
            "rOprNGfwEbeRWgbNEkqO",
        )
        .unwrap();
        s.initial_response();
        assert!(
            matches!(s.step(parts.next().unwrap()), Ok(Step::Respond(_))),
            "{seed}"
        );
        assert_eq!(s.step(parts.next().unwrap()), Ok(Step::Done), "{seed}");
    }
}
