//! Entry points shared by the cargo-fuzz targets in `fuzz/` and the corpus replay test
//! (`tests/fuzz_corpus.rs`). Not a stable API.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{ClientSession, Credentials, Mechanism, Step, UnsecuredTokenProvider, parse_jaas_config};

/// The credentials and client nonce of the RFC 7677 example, so its messages are seeds that reach the
/// end of a successful exchange.
const USER: &str = "user";
const PASSWORD: &str = "pencil";
const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";

/// A fixed `now` for unsecured tokens.
fn fixed_now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// `data` = one flag byte (bit 0: SHA-512 instead of SHA-256), then NUL-separated server messages fed to
/// a SCRAM session in turn. Must never panic; a session that failed must stay failed, and one that
/// completed must refuse further steps.
pub fn scram_client(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mechanism = if flags & 1 == 0 {
        Mechanism::ScramSha256
    } else {
        Mechanism::ScramSha512
    };
    let credentials = Credentials::new(USER, PASSWORD);
    let mut session = ClientSession::scram_with_nonce(mechanism, &credentials, NONCE).expect("valid nonce");
    // Enough for real-looking seeds, low enough that PBKDF2 does not dominate the run.
    session.set_max_scram_iterations(8192);
    let first = session.initial_response();
    assert_eq!(first, format!("n,,n={USER},r={NONCE}").into_bytes());
    let mut ended = false;
    let mut completed = false;
    for (i, message) in rest.split(|&b| b == 0).take(4).enumerate() {
        match session.step(message) {
            Ok(Step::Respond(client_final)) => {
                assert!(!ended && i == 0, "answered out of order");
                assert!(client_final.starts_with(format!("c=biws,r={NONCE}").as_bytes()));
            }
            Ok(Step::Done) => {
                assert!(!ended && i == 1, "completed out of order");
                assert!(session.is_complete());
                ended = true;
                completed = true;
            }
            Err(_) => {
                ended = true;
                assert_eq!(session.is_complete(), completed);
            }
        }
    }
}

/// `parse_jaas_config` on `data` as UTF-8, then what the client derives from the result. Must never
/// panic.
pub fn jaas(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = parse_jaas_config(text) else {
        return;
    };
    let _ = config.credentials();
    let _ = config.token_auth();
    let _ = format!("{config:?}");
    if let Ok(provider) = UnsecuredTokenProvider::from_jaas(&config) {
        check_provider(&provider, &[]);
    }
}

/// `data` = a `sasl.oauthbearer.config` (UTF-8), optionally followed by NUL and a server answer. A config
/// that parses must give a token the session accepts. Must never panic.
pub fn oauthbearer_config(data: &[u8]) {
    let (config, answer) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(config) = std::str::from_utf8(config) else {
        return;
    };
    if let Ok(provider) = UnsecuredTokenProvider::from_config(config) {
        check_provider(&provider, answer);
    }
}

fn check_provider(provider: &UnsecuredTokenProvider, answer: &[u8]) {
    let token = provider
        .token_at(fixed_now())
        .expect("a parsed provider makes tokens");
    let mut session = ClientSession::oauthbearer(&token).expect("a parsed provider's token is sendable");
    let _ = session.initial_response();
    match session.step(answer) {
        Ok(Step::Done) => assert!(answer.is_empty() && session.is_complete()),
        Ok(Step::Respond(ack)) => {
            assert_eq!(ack, [1]);
            assert!(session.server_error().is_some());
        }
        Err(_) => unreachable!("an answer after the first message is never an error"),
    }
}
