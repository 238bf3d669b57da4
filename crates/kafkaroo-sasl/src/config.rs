//! What the caller configured: [`Credentials`] and [`SaslConfig`].

use std::fmt;
use std::sync::Arc;

use crate::{ClientSession, Mechanism, SaslError, Secret, TokenProvider};

/// A user name and password (PLAIN, SCRAM). `Debug` shows the user name only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `sasl.username`.
    pub username: String,
    /// `sasl.password`.
    pub password: Secret,
}

impl Credentials {
    /// `username` with `password`.
    pub fn new(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }
}

/// The SASL settings of a client: the mechanism and what it needs (credentials for PLAIN and SCRAM, a
/// token provider for OAUTHBEARER). `Debug` never shows a secret.
#[derive(Clone)]
pub struct SaslConfig {
    /// `sasl.mechanism`.
    pub mechanism: Mechanism,
    /// For PLAIN and SCRAM.
    pub credentials: Option<Credentials>,
    /// For OAUTHBEARER.
    pub token_provider: Option<Arc<dyn TokenProvider>>,
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism)
            .field("credentials", &self.credentials)
            // A provider's own Debug is not ours to trust with secrets.
            .field(
                "token_provider",
                &self.token_provider.as_ref().map(|_| "configured"),
            )
            .finish()
    }
}

impl SaslConfig {
    /// PLAIN or SCRAM with `username` and `password`.
    pub fn with_credentials(
        mechanism: Mechanism,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        Self {
            mechanism,
            credentials: Some(Credentials::new(username, password)),
            token_provider: None,
        }
    }

    /// OAUTHBEARER with tokens from `provider`.
    pub fn oauthbearer(provider: Arc<dyn TokenProvider>) -> Self {
        Self {
            mechanism: Mechanism::OAuthBearer,
            credentials: None,
            token_provider: Some(provider),
        }
    }

    /// Whether the mechanism has what it needs; the error says what to set.
    pub fn check(&self) -> Result<(), SaslError> {
        match self.mechanism {
            Mechanism::OAuthBearer if self.token_provider.is_none() => Err(SaslError::MissingSetting {
                mechanism: self.mechanism.name(),
                needs: "a token provider: give one, or sasl.oauthbearer.config=principal=<name> for unsecured \
                        test tokens",
            }),
            Mechanism::OAuthBearer => Ok(()),
            _ if self.credentials.is_none() => Err(SaslError::MissingSetting {
                mechanism: self.mechanism.name(),
                needs: "a user name and password: set sasl.username and sasl.password (or sasl.jaas.config)",
            }),
            _ => Ok(()),
        }
    }

    /// A new session for one authentication. For OAUTHBEARER this awaits the token provider; the other
    /// mechanisms do not suspend. Cancellation safe (nothing happens until the session is used).
    pub async fn start(&self) -> Result<ClientSession, SaslError> {
        self.check()?;
        match (self.mechanism, &self.credentials, &self.token_provider) {
            (Mechanism::OAuthBearer, _, Some(provider)) => {
                ClientSession::oauthbearer(&provider.token().await?)
            }
            (Mechanism::Plain, Some(credentials), _) => ClientSession::plain(credentials),
            (mechanism, Some(credentials), _) => ClientSession::scram(mechanism, credentials),
            // `check` ruled these out.
            (mechanism, ..) => Err(SaslError::MissingSetting {
                mechanism: mechanism.name(),
                needs: "its credentials",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::UnsecuredTokenProvider;

    /// Polls once: every future here is ready at once.
    fn now<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("not ready"),
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let c = SaslConfig::with_credentials(Mechanism::ScramSha512, "alice", "hunter2");
        let d = format!("{c:?}");
        assert!(
            d.contains("alice") && d.contains("[redacted]") && !d.contains("hunter2"),
            "{d}"
        );
        let c = SaslConfig::oauthbearer(Arc::new(UnsecuredTokenProvider::new("bob")));
        assert!(format!("{c:?}").contains("token_provider: Some(\"configured\")"));
    }

    #[test]
    fn check_names_what_is_missing() {
        let c = SaslConfig {
            mechanism: Mechanism::Plain,
            credentials: None,
            token_provider: None,
        };
        assert_eq!(
            c.check().unwrap_err().to_string(),
            "SASL mechanism PLAIN needs a user name and password: set sasl.username and sasl.password (or \
             sasl.jaas.config)"
        );
        let c = SaslConfig {
            mechanism: Mechanism::OAuthBearer,
            credentials: Some(Credentials::new("a", "b")),
            token_provider: None,
        };
        assert_eq!(
            now(c.start()).unwrap_err().to_string(),
            "SASL mechanism OAUTHBEARER needs a token provider: give one, or \
             sasl.oauthbearer.config=principal=<name> for unsecured test tokens"
        );
    }

    #[test]
    fn start_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let config = SaslConfig::with_credentials(Mechanism::Plain, "a", "b");
        assert_send(&config.start());
    }

    #[test]
    fn start_builds_the_configured_mechanism() {
        let plain = now(SaslConfig::with_credentials(Mechanism::Plain, "a", "b").start()).unwrap();
        assert_eq!(plain.mechanism(), Mechanism::Plain);
        let mut scram = now(SaslConfig::with_credentials(Mechanism::ScramSha256, "a", "b").start()).unwrap();
        assert_eq!(scram.mechanism(), Mechanism::ScramSha256);
        assert!(scram.initial_response().starts_with(b"n,,n=a,r="));
        let provider = Arc::new(UnsecuredTokenProvider::new("bob"));
        let mut oauth = now(SaslConfig::oauthbearer(provider).start()).unwrap();
        assert!(
            oauth
                .initial_response()
                .starts_with(b"n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.")
        );
    }
}
