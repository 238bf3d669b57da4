use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::escape_username;
use crate::{ClientSession, Credentials, Mechanism, SaslError, Step};

const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const SERVER_NONCE: &str = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";

fn session(mechanism: Mechanism) -> ClientSession {
    let mut s =
        ClientSession::scram_with_nonce(mechanism, &Credentials::new("user", "pencil"), NONCE).unwrap();
    assert_eq!(s.initial_response(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    s
}

fn server_first(iterations: &str) -> Vec<u8> {
    format!("r={SERVER_NONCE},s={SALT},i={iterations}").into_bytes()
}

/// RFC 7677 §3, byte for byte.
#[test]
fn rfc7677_sha256_test_vector() {
    let mut s = session(Mechanism::ScramSha256);
    let step = s.step(&server_first("4096")).unwrap();
    assert_eq!(
        step,
        Step::Respond(
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
              p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
                .to_vec()
        )
    );
    assert!(!s.is_complete());
    assert_eq!(
        s.step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
        Ok(Step::Done)
    );
    assert!(s.is_complete());
    assert_eq!(
        s.step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
        Err(SaslError::OutOfOrder {
            problem: "step() called after the exchange completed"
        })
    );
}

/// The same exchange with SHA-512, expected values computed independently with Python's `hashlib` and
/// `hmac` modules.
#[test]
fn sha512_known_answer() {
    let mut s = session(Mechanism::ScramSha512);
    let step = s.step(&server_first("4096")).unwrap();
    assert_eq!(
        step,
        Step::Respond(
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
              p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ=="
                .to_vec()
        )
    );
    let v = b"v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw==";
    assert_eq!(s.step(v), Ok(Step::Done));
    assert!(s.is_complete());
}

#[test]
fn wrong_server_signature_is_refused() {
    let mut s = session(Mechanism::ScramSha256);
    s.step(&server_first("4096")).unwrap();
    // The RFC's signature with one character changed.
    let e = s
        .step(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        .unwrap_err();
    assert_eq!(e, SaslError::ServerSignatureMismatch);
    assert_eq!(
        e.to_string(),
        "the broker's SCRAM server signature is wrong: it does not know this user's password, or it is not the \
         broker you meant to reach"
    );
    assert!(!s.is_complete());
    // A truncated signature too (the compare is on the full length).
    let mut s = session(Mechanism::ScramSha256);
    s.step(&server_first("4096")).unwrap();
    assert_eq!(
        s.step(b"v=6rriTRBi23WpRR/w"),
        Err(SaslError::ServerSignatureMismatch)
    );
}

#[test]
fn server_error_is_reported_with_its_text() {
    let mut s = session(Mechanism::ScramSha256);
    s.step(&server_first("4096")).unwrap();
    let e = s.step(b"e=invalid-proof\x07").unwrap_err();
    assert_eq!(
        e.to_string(),
        "the broker ended the SCRAM exchange with the error \"invalid-proof\": check the user name and password"
    );
}

#[test]
fn server_final_extensions_are_ignored() {
    let mut s = session(Mechanism::ScramSha256);
    s.step(&server_first("4096")).unwrap();
    assert_eq!(
        s.step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,x=y"),
        Ok(Step::Done)
    );
}

#[test]
fn malformed_server_final_messages() {
    for (msg, problem) in [
        (&b""[..], "it starts with neither v= nor e="),
        (b"x=abc", "it starts with neither v= nor e="),
        (b"v=***", "the server signature (v=) is not valid base64"),
        (b"v=\xff", "it is not UTF-8"),
    ] {
        let mut s = session(Mechanism::ScramSha256);
        s.step(&server_first("4096")).unwrap();
        let e = s.step(msg).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("the broker's SCRAM-SHA-256 server-final message is malformed: {problem}"),
            "{msg:?}"
        );
    }
}

#[test]
fn iterations_below_kafkas_minimum_are_refused() {
    let mut s = session(Mechanism::ScramSha512);
    assert_eq!(
        s.step(&server_first("4095")),
        Err(SaslError::IterationsTooLow {
            requested: 4095,
            minimum: 4096
        })
    );
    let mut s = session(Mechanism::ScramSha256);
    assert!(matches!(
        s.step(&server_first("1")),
        Err(SaslError::IterationsTooLow { requested: 1, .. })
    ));
    let mut s = session(Mechanism::ScramSha256);
    assert!(matches!(
        s.step(&server_first("0")),
        Err(SaslError::IterationsTooLow { requested: 0, .. })
    ));
}

#[test]
fn absurd_iteration_counts_are_refused() {
    let mut s = session(Mechanism::ScramSha256);
    let e = s.step(&server_first("1000001")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the broker asked for 1000001 SCRAM iterations, more than the 1000000 this client computes (Kafka \
         allows at most 16384 for new credentials): recreate the user's SCRAM credentials with fewer"
    );
    let mut s = session(Mechanism::ScramSha256);
    let e = s.step(&server_first("99999999999999999999999999")).unwrap_err();
    assert_eq!(
        e,
        SaslError::IterationsTooHigh {
            requested: "99999999999999999999".to_owned(),
            maximum: 1_000_000
        }
    );
}

#[test]
fn malformed_server_first_messages() {
    let long_nonce = format!("r={SERVER_NONCE}");
    for (msg, problem) in [
        (String::new(), "it is empty"),
        (
            format!("s={SALT},i=4096"),
            "it does not start with the nonce (r=)",
        ),
        (long_nonce.clone(), "the salt (s=) does not follow the nonce"),
        (
            format!("{long_nonce},i=4096,s={SALT}"),
            "the salt (s=) does not follow the nonce",
        ),
        (
            format!("{long_nonce},s=!!,i=4096"),
            "the salt (s=) is not valid base64",
        ),
        (format!("{long_nonce},s=,i=4096"), "the salt (s=) is empty"),
        (
            format!("{long_nonce},s={SALT}"),
            "the iteration count (i=) does not follow the salt",
        ),
        (
            format!("{long_nonce},s={SALT},i="),
            "the iteration count (i=) is not a decimal number",
        ),
        (
            format!("{long_nonce},s={SALT},i=+4096"),
            "the iteration count (i=) is not a decimal number",
        ),
        (
            format!("{long_nonce},s={SALT},i=4096x"),
            "the iteration count (i=) is not a decimal number",
        ),
        (
            format!("{long_nonce},s={SALT},i=4096,junk"),
            "an attribute after the iteration count is not name=value",
        ),
        (
            format!("{long_nonce},s={SALT},i=4096,=x"),
            "an attribute after the iteration count is not name=value",
        ),
        (
            format!("r={NONCE}x\u{7f},s={SALT},i=4096"),
            "the nonce (r=) holds a non-printable character",
        ),
        (
            format!("r={NONCE}é,s={SALT},i=4096"),
            "the nonce (r=) holds a non-printable character",
        ),
    ] {
        let mut s = session(Mechanism::ScramSha256);
        let e = s.step(msg.as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("the broker's SCRAM-SHA-256 server-first message is malformed: {problem}"),
            "{msg:?}"
        );
        assert!(matches!(s.step(b"v=x"), Err(SaslError::OutOfOrder { .. })));
    }
    let mut s = session(Mechanism::ScramSha256);
    assert!(
        s.step(b"r=\xff")
            .unwrap_err()
            .to_string()
            .ends_with("it is not UTF-8")
    );
}

#[test]
fn nonce_must_extend_ours() {
    for nonce in [
        NONCE.to_owned(),
        "xyz".to_owned(),
        format!("X{NONCE}abc"),
        NONCE[..5].to_owned(),
    ] {
        let mut s = session(Mechanism::ScramSha256);
        let msg = format!("r={nonce},s={SALT},i=4096");
        assert_eq!(s.step(msg.as_bytes()), Err(SaslError::NonceMismatch), "{nonce}");
    }
}

#[test]
fn mandatory_extensions_are_refused_and_others_ignored() {
    let mut s = session(Mechanism::ScramSha256);
    let msg = format!("m=foo,r={SERVER_NONCE},s={SALT},i=4096");
    assert_eq!(s.step(msg.as_bytes()), Err(SaslError::UnsupportedScramExtension));
    let mut s = session(Mechanism::ScramSha256);
    let msg = format!("r={SERVER_NONCE},s={SALT},i=4096,x=1,tokenauth=true");
    assert!(matches!(s.step(msg.as_bytes()), Ok(Step::Respond(_))));
}

#[test]
fn step_before_initial_response_is_an_error() {
    let mut s =
        ClientSession::scram_with_nonce(Mechanism::ScramSha256, &Credentials::new("u", "p"), NONCE).unwrap();
    assert_eq!(
        s.step(&server_first("4096")),
        Err(SaslError::OutOfOrder {
            problem: "step() called before initial_response()"
        })
    );
}

#[test]
fn user_names_are_escaped() {
    assert_eq!(escape_username("a=b,c"), "a=3Db=2Cc");
    assert_eq!(escape_username("=,=="), "=3D=2C=3D=3D");
    assert_eq!(escape_username("jürgen"), "jürgen");
    let mut s =
        ClientSession::scram_with_nonce(Mechanism::ScramSha512, &Credentials::new("a,b=c", "p"), "abc")
            .unwrap();
    assert_eq!(s.initial_response(), b"n,,n=a=2Cb=3Dc,r=abc");
}

#[test]
fn constructors_check_their_arguments() {
    let c = Credentials::new("u", "p");
    for bad in ["", "a,b", "a b", "é", "a\u{1}"] {
        assert_eq!(
            ClientSession::scram_with_nonce(Mechanism::ScramSha256, &c, bad).unwrap_err(),
            SaslError::InvalidNonce,
            "{bad:?}"
        );
    }
    let e = ClientSession::scram(Mechanism::Plain, &c).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ClientSession::scram cannot run SASL mechanism PLAIN: use ClientSession::plain"
    );
    let e = ClientSession::scram(Mechanism::ScramSha256, &Credentials::new("", "p")).unwrap_err();
    assert_eq!(e.to_string(), "the SASL user name is empty: set sasl.username");
    assert!(ClientSession::scram(Mechanism::ScramSha256, &Credentials::new("a\0", "p")).is_err());
}

#[test]
fn random_nonces_are_long_printable_and_fresh() {
    let c = Credentials::new("u", "p");
    let first = |s: &mut ClientSession| String::from_utf8(s.initial_response()).unwrap();
    let a = first(&mut ClientSession::scram(Mechanism::ScramSha256, &c).unwrap());
    let b = first(&mut ClientSession::scram(Mechanism::ScramSha256, &c).unwrap());
    let nonce = a.strip_prefix("n,,n=u,r=").unwrap();
    assert_eq!(nonce.len(), 43, "32 random bytes in base64");
    assert!(nonce.bytes().all(super::is_printable));
    assert_ne!(a, b);
}

#[test]
fn delegation_tokens_add_tokenauth() {
    let c = Credentials::new("tokenid", "tokenhmac");
    let mut s = ClientSession::scram_delegation_token(Mechanism::ScramSha256, &c).unwrap();
    let first = String::from_utf8(s.initial_response()).unwrap();
    assert!(
        first.starts_with("n,,n=tokenid,r=") && first.ends_with(",tokenauth=true"),
        "{first}"
    );
}

/// The primitives of one hash, called directly on the RustCrypto crates so the round trips below do not
/// share the client's code.
#[derive(Clone, Copy)]
struct Primitives {
    hmac: fn(&[u8], &[u8]) -> Vec<u8>,
    digest: fn(&[u8]) -> Vec<u8>,
    pbkdf2: fn(&[u8], &[u8], u32) -> Vec<u8>,
    len: usize,
}

const SHA256: Primitives = Primitives {
    hmac: |key, data| {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    },
    digest: |data| Sha256::digest(data).to_vec(),
    pbkdf2: |p, s, i| pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(p, s, i).to_vec(),
    len: 32,
};

const SHA512: Primitives = Primitives {
    hmac: |key, data| {
        let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    },
    digest: |data| Sha512::digest(data).to_vec(),
    pbkdf2: |p, s, i| pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(p, s, i).to_vec(),
    len: 64,
};

/// A minimal SCRAM server (RFC 5802 §3).
struct TestServer {
    h: Primitives,
    username: String,
    salted_password: Vec<u8>,
    salt: Vec<u8>,
    iterations: u32,
    nonce_suffix: String,
    auth_prefix: String,
}

impl TestServer {
    fn new(h: Primitives, username: &str, password: &str, rng: &mut fastrand::Rng) -> Self {
        let salt: Vec<u8> = (0..rng.usize(8..40)).map(|_| rng.u8(..)).collect();
        let iterations = rng.u32(4096..4200);
        Self {
            h,
            username: username.to_owned(),
            salted_password: (h.pbkdf2)(password.as_bytes(), &salt, iterations),
            salt,
            iterations,
            nonce_suffix: (0..rng.usize(1..30)).map(|_| rng.char('!'..='+')).collect(),
            auth_prefix: String::new(),
        }
    }

    fn first(&mut self, client_first: &[u8]) -> Vec<u8> {
        let text = std::str::from_utf8(client_first).unwrap();
        let bare = text.strip_prefix("n,,").unwrap();
        let (user, nonce) = bare.strip_prefix("n=").unwrap().split_once(",r=").unwrap();
        assert_eq!(user.replace("=2C", ",").replace("=3D", "="), self.username);
        let server_first = format!(
            "r={nonce}{},s={},i={}",
            self.nonce_suffix,
            STANDARD.encode(&self.salt),
            self.iterations
        );
        self.auth_prefix = format!("{bare},{server_first}");
        server_first.into_bytes()
    }

    /// The server signature for `client_final`, checked or not.
    fn signature(&self, client_final: &[u8]) -> Vec<u8> {
        let text = std::str::from_utf8(client_final).unwrap();
        let without_proof = text.rsplit_once(",p=").unwrap().0;
        let auth_message = format!("{},{without_proof}", self.auth_prefix);
        let server_key = (self.h.hmac)(&self.salted_password, b"Server Key");
        let signature = (self.h.hmac)(&server_key, auth_message.as_bytes());
        format!("v={}", STANDARD.encode(signature)).into_bytes()
    }

    /// Checks the proof, then answers with the server signature.
    fn last(&self, client_final: &[u8]) -> Result<Vec<u8>, &'static str> {
        let text = std::str::from_utf8(client_final).unwrap();
        let (without_proof, proof) = text.rsplit_once(",p=").unwrap();
        let proof = STANDARD.decode(proof).unwrap();
        assert_eq!(proof.len(), self.h.len);
        let auth_message = format!("{},{without_proof}", self.auth_prefix);
        let stored_key = (self.h.digest)(&(self.h.hmac)(&self.salted_password, b"Client Key"));
        let client_signature = (self.h.hmac)(&stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
        if (self.h.digest)(&client_key) != stored_key {
            return Err("invalid proof");
        }
        Ok(self.signature(client_final))
    }
}

fn random_text(rng: &mut fastrand::Rng) -> String {
    let alphabet = ['a', 'Z', '0', '=', ',', ' ', 'é', '€', '"', '\\', '\u{1F600}'];
    (0..rng.usize(1..16))
        .map(|_| alphabet[rng.usize(..alphabet.len())])
        .collect()
}

fn round_trip(h: Primitives, mechanism: Mechanism, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..6 {
        let (user, password) = (random_text(&mut rng), random_text(&mut rng));
        let mut server = TestServer::new(h, &user, &password, &mut rng);
        let mut client =
            ClientSession::scram(mechanism, &Credentials::new(user.clone(), password.clone())).unwrap();
        let server_first = server.first(&client.initial_response());
        let Step::Respond(client_final) = client.step(&server_first).unwrap() else {
            panic!("SCRAM answers the server-first message");
        };
        let server_final = server.last(&client_final).expect("the server accepts the proof");
        assert_eq!(client.step(&server_final), Ok(Step::Done));
        assert!(client.is_complete());

        // A server that does not know the password: its proof check fails, and the signature it makes
        // from what it wrongly derived is refused by the client.
        let mut impostor = TestServer::new(h, &user, &format!("{password}x"), &mut rng);
        let mut client = ClientSession::scram(mechanism, &Credentials::new(user, password)).unwrap();
        let server_first = impostor.first(&client.initial_response());
        let Step::Respond(client_final) = client.step(&server_first).unwrap() else {
            panic!("SCRAM answers the server-first message");
        };
        assert_eq!(impostor.last(&client_final), Err("invalid proof"));
        let forged = impostor.signature(&client_final);
        assert_eq!(client.step(&forged), Err(SaslError::ServerSignatureMismatch));
        assert!(!client.is_complete());
    }
}

#[test]
fn sha512_round_trips_with_a_test_server() {
    round_trip(SHA512, Mechanism::ScramSha512, 0x5ca1ab1e);
}

#[test]
fn sha256_round_trips_with_a_test_server() {
    round_trip(SHA256, Mechanism::ScramSha256, 7677);
}
