//! [`SaslError`]. Every message names the cause once and says what to change; none contains a password,
//! a token or the value of a JAAS option.

/// Why a SASL mechanism could not be configured or an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// `sasl.mechanism` names no mechanism we know.
    #[error("unknown SASL mechanism {name:?}: use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER")]
    UnknownMechanism {
        /// What was given.
        name: String,
    },
    /// `sasl.mechanism=GSSAPI`.
    #[error(
        "GSSAPI (Kerberos) is not supported: it needs the Kerberos C libraries; use PLAIN, SCRAM-SHA-256, \
         SCRAM-SHA-512 or OAUTHBEARER"
    )]
    GssapiUnsupported,
    /// The configuration lacks what the mechanism needs.
    #[error("SASL mechanism {mechanism} needs {needs}")]
    MissingSetting {
        /// The mechanism name.
        mechanism: &'static str,
        /// What is missing and how to give it.
        needs: &'static str,
    },
    /// A session constructor was given a mechanism it does not implement.
    #[error("{constructor} cannot run SASL mechanism {mechanism}: use ClientSession::{instead}")]
    WrongConstructor {
        /// The constructor called.
        constructor: &'static str,
        /// The mechanism passed.
        mechanism: &'static str,
        /// The constructor to call instead.
        instead: &'static str,
    },
    /// The user name or password cannot be sent (empty user name, NUL character).
    #[error("{problem}")]
    InvalidCredentials {
        /// What is wrong and what to change.
        problem: &'static str,
    },
    /// A SCRAM client nonce given to [`ClientSession::scram_with_nonce`](crate::ClientSession::scram_with_nonce)
    /// is empty or holds a character other than printable ASCII without `,` (RFC 5802 §7).
    #[error("the SCRAM client nonce must be non-empty printable ASCII without ','")]
    InvalidNonce,
    /// The operating system's random number generator failed (SCRAM nonces need it).
    #[error("the operating system's random number generator failed: {reason}")]
    Random {
        /// The generator's error.
        reason: String,
    },
    /// The broker sent a message that does not follow the mechanism's grammar.
    #[error("the broker's {mechanism} {message} is malformed: {problem}")]
    MalformedServerMessage {
        /// The mechanism name.
        mechanism: &'static str,
        /// Which message (`server-first message`, `server-final message`, `answer`).
        message: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The broker asked for fewer PBKDF2 iterations than Kafka's minimum: a downgrade attempt (it makes the
    /// proof we send cheaper to brute-force), or a broker that is not Kafka.
    #[error(
        "the broker asked for {requested} SCRAM iterations, fewer than Kafka's minimum {minimum}: \
         refusing to answer (a downgrade attempt, or not the broker you meant to reach)"
    )]
    IterationsTooLow {
        /// The `i=` of the server-first message.
        requested: u32,
        /// The minimum (4096).
        minimum: u32,
    },
    /// The broker asked for more PBKDF2 iterations than we are willing to compute.
    #[error(
        "the broker asked for {requested} SCRAM iterations, more than the {maximum} this client computes \
         (Kafka allows at most 16384 for new credentials): recreate the user's SCRAM credentials with fewer"
    )]
    IterationsTooHigh {
        /// The `i=` of the server-first message (as sent, shortened).
        requested: String,
        /// Our cap.
        maximum: u32,
    },
    /// The server nonce does not extend the client nonce (RFC 5802 §5.1): a replayed or forged answer.
    #[error(
        "the broker's SCRAM nonce does not extend the one we sent: a replayed or forged answer, or not the \
         broker you meant to reach"
    )]
    NonceMismatch,
    /// The server-first message carries a mandatory extension (`m=`) we do not know (RFC 5802 §5.1).
    #[error("the broker requires a SCRAM extension (m=) this client does not support")]
    UnsupportedScramExtension,
    /// The server signature in the server-final message is not the one the password gives.
    #[error(
        "the broker's SCRAM server signature is wrong: it does not know this user's password, or it is not \
         the broker you meant to reach"
    )]
    ServerSignatureMismatch,
    /// The server-final message is `e=<error>` (RFC 5802 §7).
    #[error(
        "the broker ended the SCRAM exchange with the error {message:?}: check the user name and password"
    )]
    ScramServerError {
        /// The broker's text (control characters removed, shortened).
        message: String,
    },
    /// The broker answered the OAUTHBEARER token with an error document (RFC 7628 §3.2.2).
    #[error(
        "the broker rejected the OAUTHBEARER token ({detail}): give a valid, unexpired token with the scope the broker requires"
    )]
    OAuthBearerRejected {
        /// The document's `status` and `scope`, as [`ClientSession::server_error`](crate::ClientSession::server_error) gives them.
        detail: String,
    },
    /// The token value cannot be sent: it must be an RFC 6750 `b64token` (a JWT is one).
    #[error(
        "the OAUTHBEARER token {problem}: a token must be non-empty and use only A-Z a-z 0-9 - . _ ~ + / (then '=' padding)"
    )]
    InvalidToken {
        /// What is wrong (never the token).
        problem: &'static str,
    },
    /// An OAUTHBEARER extension key or value breaks RFC 7628 §3.1.
    #[error("{problem}")]
    InvalidExtension {
        /// What is wrong and what to change (names the key, never the value).
        problem: String,
    },
    /// The token provider failed.
    #[error("the OAUTHBEARER token provider failed: {message}")]
    TokenProvider {
        /// The provider's explanation.
        message: String,
    },
    /// `sasl.oauthbearer.config` (or the JAAS options of an unsecured token) cannot be used.
    #[error("{problem}")]
    OAuthBearerConfig {
        /// What is wrong and what to change.
        problem: String,
    },
    /// `sasl.jaas.config` cannot be parsed.
    #[error("{problem}")]
    Jaas {
        /// What is wrong, where, and what to change (never an option's value).
        problem: String,
    },
    /// [`ClientSession`](crate::ClientSession) was driven out of order: a bug in the caller.
    #[error("SASL exchange driven out of order: {problem} (use a new ClientSession for each authentication)")]
    OutOfOrder {
        /// What happened.
        problem: &'static str,
    },
}

/// `text` without control characters, at most 200 characters: broker-supplied text for an error message.
pub(crate) fn sanitize(text: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(MAX).collect();
    if text.chars().filter(|c| !c.is_control()).nth(MAX).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_control_characters_and_shortens() {
        assert_eq!(sanitize("bad\u{1}\nuser"), "baduser");
        let long = "x".repeat(500);
        let s = sanitize(&long);
        assert_eq!(s.chars().count(), 201);
        assert!(s.ends_with('…'));
        assert_eq!(sanitize(&"y".repeat(200)), "y".repeat(200));
    }

    #[test]
    fn messages_say_what_to_change() {
        assert_eq!(
            SaslError::UnknownMechanism { name: "FOO".into() }.to_string(),
            "unknown SASL mechanism \"FOO\": use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"
        );
        assert_eq!(
            SaslError::GssapiUnsupported.to_string(),
            "GSSAPI (Kerberos) is not supported: it needs the Kerberos C libraries; use PLAIN, SCRAM-SHA-256, \
             SCRAM-SHA-512 or OAUTHBEARER"
        );
        assert_eq!(
            SaslError::IterationsTooLow {
                requested: 1,
                minimum: 4096
            }
            .to_string(),
            "the broker asked for 1 SCRAM iterations, fewer than Kafka's minimum 4096: refusing to answer \
             (a downgrade attempt, or not the broker you meant to reach)"
        );
    }
}
