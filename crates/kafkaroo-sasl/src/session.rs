//! [`ClientSession`]: one authentication exchange, sans-IO. The caller sends
//! [`ClientSession::initial_response`] in the first SaslAuthenticate request, feeds each answer's
//! `auth_bytes` to [`ClientSession::step`], and sends what it returns until [`Step::Done`].

use std::fmt;

use crate::oauthbearer::OAuthBearerSession;
use crate::plain::PlainSession;
use crate::scram::{ScramSession, random_nonce};
use crate::{Credentials, Mechanism, OAuthToken, SaslError};

/// What to do after feeding the broker's answer to [`ClientSession::step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes in the next SaslAuthenticate request.
    Respond(Vec<u8>),
    /// Authenticated: the connection may send other requests.
    Done,
}

enum Inner {
    Plain(PlainSession),
    Scram(Box<ScramSession>),
    OAuthBearer(OAuthBearerSession),
}

/// The client side of one SASL authentication exchange. Never performs I/O and never panics on what
/// the broker sends; a failed step leaves the session failed.
pub struct ClientSession {
    mechanism: Mechanism,
    inner: Inner,
    failed: bool,
}

impl ClientSession {
    /// PLAIN with `credentials`. Refuses an empty user name and NUL characters (PLAIN's separator).
    pub fn plain(credentials: &Credentials) -> Result<Self, SaslError> {
        Ok(Self::new(
            Mechanism::Plain,
            Inner::Plain(PlainSession::new(credentials)?),
        ))
    }

    /// SCRAM-SHA-256 or SCRAM-SHA-512 with `credentials` and a random nonce (32 bytes from the
    /// operating system).
    pub fn scram(mechanism: Mechanism, credentials: &Credentials) -> Result<Self, SaslError> {
        Self::scram_inner(mechanism, credentials, &random_nonce()?, false)
    }

    /// SCRAM with a delegation token (KIP-48) as `credentials`: the token id as user name, its HMAC as
    /// password, and the `tokenauth=true` extension. What `sasl.jaas.config` with `tokenauth="true"` means.
    pub fn scram_delegation_token(
        mechanism: Mechanism,
        credentials: &Credentials,
    ) -> Result<Self, SaslError> {
        Self::scram_inner(mechanism, credentials, &random_nonce()?, true)
    }

    /// SCRAM with a fixed client nonce, for test vectors. `nonce` must be non-empty printable ASCII
    /// without `,`. Never use a fixed nonce against a real broker.
    pub fn scram_with_nonce(
        mechanism: Mechanism,
        credentials: &Credentials,
        nonce: &str,
    ) -> Result<Self, SaslError> {
        Self::scram_inner(mechanism, credentials, nonce, false)
    }

    fn scram_inner(
        mechanism: Mechanism,
        credentials: &Credentials,
        nonce: &str,
        token_auth: bool,
    ) -> Result<Self, SaslError> {
        let session = ScramSession::new(mechanism, credentials, nonce, token_auth)?;
        Ok(Self::new(mechanism, Inner::Scram(Box::new(session))))
    }

    /// OAUTHBEARER with `token`. Refuses a token that is not an RFC 6750 `b64token` and extensions that
    /// break RFC 7628 §3.1.
    pub fn oauthbearer(token: &OAuthToken) -> Result<Self, SaslError> {
        Ok(Self::new(
            Mechanism::OAuthBearer,
            Inner::OAuthBearer(OAuthBearerSession::new(token)?),
        ))
    }

    fn new(mechanism: Mechanism, inner: Inner) -> Self {
        Self {
            mechanism,
            inner,
            failed: false,
        }
    }

    /// Lowers the SCRAM iteration cap, so the fuzz target does not spend its time in PBKDF2.
    pub(crate) fn set_max_scram_iterations(&mut self, max: u32) {
        if let Inner::Scram(s) = &mut self.inner {
            s.set_max_iterations(max);
        }
    }

    /// The mechanism to name in the SaslHandshake request.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The first client message, sent in the first SaslAuthenticate request. Calling it again returns
    /// the same bytes; it does not restart the exchange. For PLAIN it holds the password and for
    /// OAUTHBEARER the token: never log it.
    pub fn initial_response(&mut self) -> Vec<u8> {
        match &mut self.inner {
            Inner::Plain(s) => s.initial_response(),
            Inner::Scram(s) => s.initial_response(),
            Inner::OAuthBearer(s) => s.initial_response(),
        }
    }

    /// Feeds the broker's answer (the `auth_bytes` of a successful SaslAuthenticate response). An error
    /// before completion ends the exchange: do not send anything more on this session.
    pub fn step(&mut self, server: &[u8]) -> Result<Step, SaslError> {
        if self.failed {
            return Err(SaslError::OutOfOrder {
                problem: "step() called after the exchange failed",
            });
        }
        let was_complete = self.is_complete();
        let result = match &mut self.inner {
            Inner::Plain(s) => s.step(server),
            Inner::Scram(s) => s.step(server),
            Inner::OAuthBearer(s) => s.step(server),
        };
        // A stray step after success is refused but does not undo the authentication.
        if result.is_err() && !was_complete {
            self.failed = true;
        }
        result
    }

    /// Whether the exchange ended in success (the server was verified, for SCRAM).
    pub fn is_complete(&self) -> bool {
        !self.failed
            && match &self.inner {
                Inner::Plain(s) => s.is_complete(),
                Inner::Scram(s) => s.is_complete(),
                Inner::OAuthBearer(s) => s.is_complete(),
            }
    }

    /// For OAUTHBEARER, the broker's error document (RFC 7628 §3.2.2) as `status` and required `scope`,
    /// e.g. `invalid_token (required scope: kafka)`: add it to the SASL_AUTHENTICATION_FAILED error the
    /// broker sends after it. `None` for other mechanisms or when the broker sent no error document.
    pub fn server_error(&self) -> Option<&str> {
        match &self.inner {
            Inner::OAuthBearer(s) => s.server_error(),
            _ => None,
        }
    }
}

impl fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.inner {
            _ if self.failed => "failed",
            Inner::Plain(s) => s.state_name(),
            Inner::Scram(s) => s.state_name(),
            Inner::OAuthBearer(s) => s.state_name(),
        };
        f.debug_struct("ClientSession")
            .field("mechanism", &self.mechanism)
            .field("state", &state)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_mechanism_and_state_only() {
        let mut s = ClientSession::plain(&Credentials::new("alice", "hunter2")).unwrap();
        assert_eq!(
            format!("{s:?}"),
            "ClientSession { mechanism: Plain, state: \"initial\" }"
        );
        s.initial_response();
        assert_eq!(
            format!("{s:?}"),
            "ClientSession { mechanism: Plain, state: \"sent\" }"
        );
        s.step(b"x").unwrap_err();
        assert_eq!(
            format!("{s:?}"),
            "ClientSession { mechanism: Plain, state: \"failed\" }"
        );
    }

    #[test]
    fn a_failed_session_stays_failed() {
        let mut s = ClientSession::plain(&Credentials::new("a", "b")).unwrap();
        s.initial_response();
        s.step(b"unexpected").unwrap_err();
        assert_eq!(
            s.step(b""),
            Err(SaslError::OutOfOrder {
                problem: "step() called after the exchange failed"
            })
        );
        assert!(!s.is_complete());
    }

    #[test]
    fn sessions_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ClientSession>();
        assert_send_sync::<crate::SaslConfig>();
    }
}
