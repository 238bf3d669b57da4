//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), client side, without channel binding (`n,,`).
//!
//! The password is used as raw UTF-8, without SASLprep (RFC 4013): Kafka's own client and broker do the
//! same, so a password that SASLprep would change still works against Kafka.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use crate::error::sanitize;
use crate::{Credentials, Mechanism, SaslError, Secret, Step};

/// The fewest PBKDF2 iterations a broker may ask for: Kafka's minimum for both SCRAM mechanisms. Fewer is
/// refused, so a peer cannot make the proof we send cheap to brute-force.
pub const SCRAM_MIN_ITERATIONS: u32 = 4096;
/// The most PBKDF2 iterations we compute (Kafka caps new credentials at 16384), so a peer cannot make
/// us spin for minutes.
pub const SCRAM_MAX_ITERATIONS: u32 = 1_000_000;

/// `base64("n,,")`: the GS2 header we send, echoed in the client-final message.
const CHANNEL_BINDING: &str = "c=biws";

#[derive(Debug, Clone, Copy)]
enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => {
                let mut mac =
                    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Self::Sha512 => {
                let mut mac =
                    <Hmac<Sha512> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// Constant-time check of `HMAC(key, data) == expected`.
    fn verify(self, key: &[u8], data: &[u8], expected: &[u8]) -> bool {
        match self {
            Self::Sha256 => {
                let mut mac =
                    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
                mac.update(data);
                mac.verify_slice(expected).is_ok()
            }
            Self::Sha512 => {
                let mut mac =
                    <Hmac<Sha512> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
                mac.update(data);
                mac.verify_slice(expected).is_ok()
            }
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `Hi(password, salt, i)` of RFC 5802 §2.2, which is PBKDF2 with HMAC.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha256 => pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec(),
            Self::Sha512 => pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec(),
        }
    }
}

enum State {
    Initial,
    AwaitServerFirst,
    AwaitServerFinal {
        server_key: Vec<u8>,
        auth_message: Vec<u8>,
    },
    Done,
    /// A step failed; the session answers nothing more.
    Failed,
}

/// The client-final message and what checking the server-final message needs.
struct ClientFinal {
    message: Vec<u8>,
    server_key: Vec<u8>,
    auth_message: Vec<u8>,
}

pub(crate) struct ScramSession {
    mechanism: &'static str,
    hash: Hash,
    password: Secret,
    client_nonce: String,
    /// `n=<user>,r=<nonce>[,tokenauth=true]`.
    client_first_bare: String,
    max_iterations: u32,
    state: State,
}

impl ScramSession {
    pub(crate) fn new(
        mechanism: Mechanism,
        credentials: &Credentials,
        nonce: &str,
        token_auth: bool,
    ) -> Result<Self, SaslError> {
        let hash = match mechanism {
            Mechanism::ScramSha256 => Hash::Sha256,
            Mechanism::ScramSha512 => Hash::Sha512,
            other => {
                return Err(SaslError::WrongConstructor {
                    constructor: "ClientSession::scram",
                    mechanism: other.name(),
                    instead: if other == Mechanism::Plain {
                        "plain"
                    } else {
                        "oauthbearer"
                    },
                });
            }
        };
        if credentials.username.is_empty() {
            return Err(SaslError::InvalidCredentials {
                problem: "the SASL user name is empty: set sasl.username",
            });
        }
        if credentials.username.contains('\0') {
            return Err(SaslError::InvalidCredentials {
                problem: "the SCRAM user name contains a NUL character, which RFC 5802 does not allow: remove it",
            });
        }
        if nonce.is_empty() || !nonce.bytes().all(is_printable) {
            return Err(SaslError::InvalidNonce);
        }
        let mut client_first_bare = format!("n={},r={nonce}", escape_username(&credentials.username));
        if token_auth {
            // Kafka's extension for delegation tokens (KIP-48).
            client_first_bare.push_str(",tokenauth=true");
        }
        Ok(Self {
            mechanism: mechanism.name(),
            hash,
            password: credentials.password.clone(),
            client_nonce: nonce.to_owned(),
            client_first_bare,
            max_iterations: SCRAM_MAX_ITERATIONS,
            state: State::Initial,
        })
    }

    /// A lower cap, so the fuzz target does not spend its time in PBKDF2.
    pub(crate) fn set_max_iterations(&mut self, max: u32) {
        self.max_iterations = max;
    }

    pub(crate) fn initial_response(&mut self) -> Vec<u8> {
        if matches!(self.state, State::Initial) {
            self.state = State::AwaitServerFirst;
        }
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    pub(crate) fn step(&mut self, server: &[u8]) -> Result<Step, SaslError> {
        // Failed unless a branch below sets the next state.
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Initial => {
                self.state = State::Initial;
                Err(SaslError::OutOfOrder {
                    problem: "step() called before initial_response()",
                })
            }
            State::AwaitServerFirst => {
                let ClientFinal {
                    message: client_final,
                    server_key,
                    auth_message,
                } = self.answer_server_first(server)?;
                self.state = State::AwaitServerFinal {
                    server_key,
                    auth_message,
                };
                Ok(Step::Respond(client_final))
            }
            State::AwaitServerFinal {
                server_key,
                auth_message,
            } => {
                self.verify_server_final(server, &server_key, &auth_message)?;
                self.state = State::Done;
                Ok(Step::Done)
            }
            State::Done => {
                self.state = State::Done;
                Err(SaslError::OutOfOrder {
                    problem: "step() called after the exchange completed",
                })
            }
            State::Failed => Err(SaslError::OutOfOrder {
                problem: "step() called after the exchange failed",
            }),
        }
    }

    pub(crate) fn is_complete(&self) -> bool {
        matches!(self.state, State::Done)
    }

    pub(crate) fn state_name(&self) -> &'static str {
        match self.state {
            State::Initial => "initial",
            State::AwaitServerFirst => "awaiting server-first",
            State::AwaitServerFinal { .. } => "awaiting server-final",
            State::Done => "complete",
            State::Failed => "failed",
        }
    }

    fn malformed(&self, message: &'static str, problem: impl Into<String>) -> SaslError {
        SaslError::MalformedServerMessage {
            mechanism: self.mechanism,
            message,
            problem: problem.into(),
        }
    }

    /// Checks the server-first message and computes the client-final message (RFC 5802 §3).
    fn answer_server_first(&self, server: &[u8]) -> Result<ClientFinal, SaslError> {
        const MSG: &str = "server-first message";
        let text = std::str::from_utf8(server).map_err(|_| self.malformed(MSG, "it is not UTF-8"))?;
        if text.is_empty() {
            return Err(self.malformed(MSG, "it is empty"));
        }
        let mut attrs = text.split(',');
        let mut first = attrs.next().unwrap_or_default();
        if first.starts_with("m=") {
            return Err(SaslError::UnsupportedScramExtension);
        }
        let nonce = first
            .strip_prefix("r=")
            .ok_or_else(|| self.malformed(MSG, "it does not start with the nonce (r=)"))?;
        if !nonce.bytes().all(is_printable) {
            return Err(self.malformed(MSG, "the nonce (r=) holds a non-printable character"));
        }
        if nonce.len() <= self.client_nonce.len() || !nonce.starts_with(&self.client_nonce) {
            return Err(SaslError::NonceMismatch);
        }
        first = attrs.next().unwrap_or_default();
        let salt = first
            .strip_prefix("s=")
            .ok_or_else(|| self.malformed(MSG, "the salt (s=) does not follow the nonce"))?;
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| self.malformed(MSG, "the salt (s=) is not valid base64"))?;
        if salt.is_empty() {
            return Err(self.malformed(MSG, "the salt (s=) is empty"));
        }
        first = attrs.next().unwrap_or_default();
        let iterations = first
            .strip_prefix("i=")
            .ok_or_else(|| self.malformed(MSG, "the iteration count (i=) does not follow the salt"))?;
        let iterations = self.check_iterations(iterations)?;
        for ext in attrs {
            // Extensions (RFC 5802 §5.1) we do not know are ignored, but must at least look like one.
            let valid = ext
                .split_once('=')
                .is_some_and(|(name, _)| !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic()));
            if !valid {
                return Err(self.malformed(MSG, "an attribute after the iteration count is not name=value"));
            }
        }

        let salted = self
            .hash
            .salted_password(self.password.expose().as_bytes(), &salt, iterations);
        let client_key = self.hash.hmac(&salted, b"Client Key");
        let stored_key = self.hash.digest(&client_key);
        let without_proof = format!("{CHANNEL_BINDING},r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare).into_bytes();
        let client_signature = self.hash.hmac(&stored_key, &auth_message);
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = self.hash.hmac(&salted, b"Server Key");
        let client_final = format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes();
        Ok(ClientFinal {
            message: client_final,
            server_key,
            auth_message,
        })
    }

    fn check_iterations(&self, digits: &str) -> Result<u32, SaslError> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.malformed(
                "server-first message",
                "the iteration count (i=) is not a decimal number",
            ));
        }
        let too_high = || SaslError::IterationsTooHigh {
            requested: digits.chars().take(20).collect(),
            maximum: self.max_iterations,
        };
        let n: u32 = digits.parse().map_err(|_| too_high())?;
        if n < SCRAM_MIN_ITERATIONS {
            return Err(SaslError::IterationsTooLow {
                requested: n,
                minimum: SCRAM_MIN_ITERATIONS,
            });
        }
        if n > self.max_iterations {
            return Err(too_high());
        }
        Ok(n)
    }

    /// Checks `v=<ServerSignature>` (RFC 5802 §3), or reports `e=<error>`.
    fn verify_server_final(
        &self,
        server: &[u8],
        server_key: &[u8],
        auth_message: &[u8],
    ) -> Result<(), SaslError> {
        const MSG: &str = "server-final message";
        let text = std::str::from_utf8(server).map_err(|_| self.malformed(MSG, "it is not UTF-8"))?;
        let first = text.split(',').next().unwrap_or_default();
        if let Some(error) = first.strip_prefix("e=") {
            return Err(SaslError::ScramServerError {
                message: sanitize(error),
            });
        }
        let signature = first
            .strip_prefix("v=")
            .ok_or_else(|| self.malformed(MSG, "it starts with neither v= nor e="))?;
        let signature = STANDARD
            .decode(signature)
            .map_err(|_| self.malformed(MSG, "the server signature (v=) is not valid base64"))?;
        if !self.hash.verify(server_key, auth_message, &signature) {
            return Err(SaslError::ServerSignatureMismatch);
        }
        Ok(())
    }
}

/// `printable` of RFC 5802 §7: `%x21-2B / %x2D-7E`, i.e. visible ASCII except `,`.
fn is_printable(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b','
}

/// `saslname` of RFC 5802 §7: `=` becomes `=3D` and `,` becomes `=2C`.
fn escape_username(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '=' => out.push_str("=3D"),
            ',' => out.push_str("=2C"),
            c => out.push(c),
        }
    }
    out
}

/// A fresh client nonce: 32 bytes from the operating system, base64 (43 printable characters, no `,`).
pub(crate) fn random_nonce() -> Result<String, SaslError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| SaslError::Random {
        reason: e.to_string(),
    })?;
    Ok(base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests;
