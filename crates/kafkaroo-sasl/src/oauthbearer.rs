//! OAUTHBEARER (RFC 7628, KIP-255): the token, where tokens come from, and the client side of the
//! exchange: `n,,\x01auth=Bearer <token>\x01[key=value\x01]...\x01`, then either success (empty answer)
//! or an error document that we acknowledge with `\x01` (RFC 7628 §3.2.3).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use crate::error::sanitize;
use crate::{SaslError, Secret, Step};

/// RFC 7628's key/value separator.
const KVSEP: u8 = 0x01;

/// A bearer token and what the client needs to know about it.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthToken {
    /// The token sent to the broker (for example a JWT). Must be an RFC 6750 `b64token`.
    pub value: Secret,
    /// Who the token says we are (informational; the broker reads the token itself).
    pub principal: String,
    /// When the token stops being valid: fetch a new one before, for new connections and for KIP-368
    /// re-authentication.
    pub expires_at: SystemTime,
    /// SASL extensions sent with the token (KIP-342), such as `logicalCluster`. Keys `[A-Za-z]+`, not
    /// `auth`; values non-empty printable ASCII, space, tab, CR or LF (RFC 7628 §3.1).
    pub extensions: Vec<(String, String)>,
}

impl fmt::Debug for OAuthToken {
    /// Shows the extension keys but not their values, which may be credentials too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.extensions.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OAuthToken")
            .field("value", &self.value)
            .field("principal", &self.principal)
            .field("expires_at", &self.expires_at)
            .field("extension_keys", &keys)
            .finish()
    }
}

/// Where OAUTHBEARER tokens come from: an identity provider, a file, or
/// [`UnsecuredTokenProvider`](crate::UnsecuredTokenProvider) for tests.
///
/// Called for every authentication (each connection, and each KIP-368 re-authentication), so an
/// implementation should cache its token until shortly before `expires_at`. The future is boxed so the
/// trait needs no extra crates and stays object-safe.
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// A currently valid token, or [`SaslError::TokenProvider`] saying why there is none.
    fn token(&self) -> Pin<Box<dyn Future<Output = Result<OAuthToken, SaslError>> + Send + '_>>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Initial,
    Sent,
    /// The broker sent an error document and we answered `\x01`; it now fails the request.
    ErrorAcknowledged,
    Done,
}

pub(crate) struct OAuthBearerSession {
    message: Vec<u8>,
    state: State,
    server_error: Option<String>,
}

impl OAuthBearerSession {
    pub(crate) fn new(token: &OAuthToken) -> Result<Self, SaslError> {
        check_token(token.value.expose())?;
        let mut message = Vec::with_capacity(token.value.expose().len() + 32);
        message.extend_from_slice(b"n,,\x01auth=Bearer ");
        message.extend_from_slice(token.value.expose().as_bytes());
        message.push(KVSEP);
        for (key, value) in &token.extensions {
            check_extension(key, value)?;
            message.extend_from_slice(key.as_bytes());
            message.push(b'=');
            message.extend_from_slice(value.as_bytes());
            message.push(KVSEP);
        }
        message.push(KVSEP);
        Ok(Self {
            message,
            state: State::Initial,
            server_error: None,
        })
    }

    pub(crate) fn initial_response(&mut self) -> Vec<u8> {
        if self.state == State::Initial {
            self.state = State::Sent;
        }
        self.message.clone()
    }

    pub(crate) fn step(&mut self, server: &[u8]) -> Result<Step, SaslError> {
        match self.state {
            State::Initial => Err(SaslError::OutOfOrder {
                problem: "step() called before initial_response()",
            }),
            State::Done => Err(SaslError::OutOfOrder {
                problem: "step() called after the exchange completed",
            }),
            State::Sent if server.is_empty() => {
                self.state = State::Done;
                Ok(Step::Done)
            }
            State::Sent => {
                self.server_error = Some(describe_error_document(server));
                self.state = State::ErrorAcknowledged;
                Ok(Step::Respond(vec![KVSEP]))
            }
            // The broker should have failed the request after our `\x01`; whatever it says, the token
            // was refused.
            State::ErrorAcknowledged => Err(SaslError::OAuthBearerRejected {
                detail: self.server_error.clone().unwrap_or_default(),
            }),
        }
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    pub(crate) fn server_error(&self) -> Option<&str> {
        self.server_error.as_deref()
    }

    pub(crate) fn state_name(&self) -> &'static str {
        match self.state {
            State::Initial => "initial",
            State::Sent => "sent",
            State::ErrorAcknowledged => "error acknowledged",
            State::Done => "complete",
        }
    }
}

/// `status` and `scope` of an RFC 7628 §3.2.2 error document, as one line: `invalid_token (required
/// scope: kafka)`. Text that is not such a document is described, not echoed raw.
fn describe_error_document(server: &[u8]) -> String {
    let doc: Option<serde_json::Map<String, serde_json::Value>> = serde_json::from_slice(server).ok();
    let Some(doc) = doc else {
        return match std::str::from_utf8(server) {
            Ok(text) => format!("the broker's error is not a JSON document: {:?}", sanitize(text)),
            Err(_) => "the broker's error is not a JSON document".to_owned(),
        };
    };
    let field = |name: &str| doc.get(name).and_then(|v| v.as_str()).map(sanitize);
    let mut out = field("status").unwrap_or_else(|| "no status given".to_owned());
    if let Some(scope) = field("scope") {
        out.push_str(&format!(" (required scope: {scope})"));
    }
    out
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. Anything
/// else (a space, `\x01`) would break the message framing.
fn check_token(token: &str) -> Result<(), SaslError> {
    if token.is_empty() {
        return Err(SaslError::InvalidToken { problem: "is empty" });
    }
    let body = token.trim_end_matches('=');
    if body.is_empty() {
        return Err(SaslError::InvalidToken {
            problem: "is only '=' padding",
        });
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
    {
        return Err(SaslError::InvalidToken {
            problem: "holds a character a bearer token cannot have",
        });
    }
    Ok(())
}

/// RFC 7628 §3.1 `key = 1*(ALPHA)`, `auth` reserved; `value = *(VCHAR / SP / HTAB / CR / LF)`, non-empty
/// as Kafka's broker requires.
pub(crate) fn check_extension(key: &str, value: &str) -> Result<(), SaslError> {
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(SaslError::InvalidExtension {
            problem: format!(
                "the OAUTHBEARER extension name {:?} is not allowed: names are ASCII letters only (RFC 7628 §3.1)",
                sanitize(key)
            ),
        });
    }
    if key.eq_ignore_ascii_case("auth") {
        return Err(SaslError::InvalidExtension {
            problem:
                "the OAUTHBEARER extension name \"auth\" is reserved for the token: rename the extension"
                    .to_owned(),
        });
    }
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| matches!(b, 0x21..=0x7e | b' ' | b'\t' | b'\r' | b'\n'))
    {
        return Err(SaslError::InvalidExtension {
            problem: format!(
                "the value of OAUTHBEARER extension {key:?} must be non-empty printable ASCII (spaces, tabs \
                 and line breaks allowed; RFC 7628 §3.1)"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::ClientSession;

    fn token(value: &str, extensions: &[(&str, &str)]) -> OAuthToken {
        OAuthToken {
            value: Secret::from(value),
            principal: "alice".into(),
            expires_at: UNIX_EPOCH + Duration::from_secs(2_000_000_000),
            extensions: extensions
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn initial_response_without_extensions() {
        let mut s = ClientSession::oauthbearer(&token("eyJh.eyJz.", &[])).unwrap();
        assert_eq!(s.initial_response(), b"n,,\x01auth=Bearer eyJh.eyJz.\x01\x01");
        assert_eq!(s.step(b""), Ok(Step::Done));
        assert!(s.is_complete());
        assert_eq!(s.server_error(), None);
    }

    #[test]
    fn initial_response_with_extensions_in_order() {
        let t = token("abc", &[("logicalCluster", "lkc-1"), ("traceId", "a b\tc")]);
        let mut s = ClientSession::oauthbearer(&t).unwrap();
        assert_eq!(
            s.initial_response(),
            b"n,,\x01auth=Bearer abc\x01logicalCluster=lkc-1\x01traceId=a b\tc\x01\x01"
        );
    }

    #[test]
    fn error_document_is_acknowledged_and_remembered() {
        let mut s = ClientSession::oauthbearer(&token("abc", &[])).unwrap();
        s.initial_response();
        let doc = br#"{"status":"invalid_token","scope":"kafka.read","openid-configuration":"https://x"}"#;
        assert_eq!(s.step(doc), Ok(Step::Respond(vec![0x01])));
        assert!(!s.is_complete());
        assert_eq!(
            s.server_error(),
            Some("invalid_token (required scope: kafka.read)")
        );
        // A broker that then claims success still does not make the exchange succeed.
        let e = s.step(b"").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the broker rejected the OAUTHBEARER token (invalid_token (required scope: kafka.read)): give a \
             valid, unexpired token with the scope the broker requires"
        );
        assert!(!s.is_complete());
    }

    #[test]
    fn error_documents_that_are_not_json_are_described() {
        assert_eq!(
            describe_error_document(br#"{"status":"invalid_token"}"#),
            "invalid_token"
        );
        assert_eq!(
            describe_error_document(br#"{"scope":"s"}"#),
            "no status given (required scope: s)"
        );
        assert_eq!(
            describe_error_document(b"nope\x01"),
            "the broker's error is not a JSON document: \"nope\""
        );
        assert_eq!(
            describe_error_document(b"\xff"),
            "the broker's error is not a JSON document"
        );
        assert_eq!(
            describe_error_document(b"[1]"),
            "the broker's error is not a JSON document: \"[1]\""
        );
    }

    #[test]
    fn out_of_order_steps_are_errors() {
        let mut s = ClientSession::oauthbearer(&token("abc", &[])).unwrap();
        assert!(matches!(s.step(b""), Err(SaslError::OutOfOrder { .. })));
        let mut s = ClientSession::oauthbearer(&token("abc", &[])).unwrap();
        s.initial_response();
        s.step(b"").unwrap();
        assert!(matches!(s.step(b""), Err(SaslError::OutOfOrder { .. })));
    }

    #[test]
    fn tokens_are_checked_without_being_echoed() {
        for (bad, problem) in [
            ("", "is empty"),
            ("==", "is only '=' padding"),
            ("abc def", "holds a character a bearer token cannot have"),
            ("abc\x01x", "holds a character a bearer token cannot have"),
            ("a=b", "holds a character a bearer token cannot have"),
        ] {
            let e = ClientSession::oauthbearer(&token(bad, &[])).unwrap_err();
            assert_eq!(e, SaslError::InvalidToken { problem }, "{bad:?}");
        }
        for good in ["a", "A-z0.9_~+/", "abc==", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0."] {
            assert!(ClientSession::oauthbearer(&token(good, &[])).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn extensions_follow_rfc_7628() {
        let err = |k: &str, v: &str| {
            ClientSession::oauthbearer(&token("t", &[(k, v)]))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("auth", "x"),
            "the OAUTHBEARER extension name \"auth\" is reserved for the token: rename the extension"
        );
        assert_eq!(
            err("AUTH", "x"),
            "the OAUTHBEARER extension name \"auth\" is reserved for the token: rename the extension"
        );
        assert_eq!(
            err("trace_id", "x"),
            "the OAUTHBEARER extension name \"trace_id\" is not allowed: names are ASCII letters only (RFC \
             7628 §3.1)"
        );
        assert!(err("", "x").contains("names are ASCII letters only"));
        let e = err("k", "sec\u{1}ret");
        assert_eq!(
            e,
            "the value of OAUTHBEARER extension \"k\" must be non-empty printable ASCII (spaces, tabs and \
             line breaks allowed; RFC 7628 §3.1)"
        );
        assert!(!e.contains("sec"));
        assert!(err("k", "").contains("non-empty"));
        assert!(err("k", "é").contains("printable ASCII"));
    }

    #[test]
    fn debug_hides_the_token_and_extension_values() {
        let t = token("very-secret-token", &[("k", "hidden-value")]);
        let d = format!("{t:?}");
        assert!(
            !d.contains("very-secret-token") && !d.contains("hidden-value"),
            "{d}"
        );
        assert!(d.contains("[redacted]") && d.contains("\"k\""), "{d}");
    }
}
