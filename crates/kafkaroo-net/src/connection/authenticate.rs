//! SASL authentication of one connection: SaslHandshake (v1 and up; v0's raw token framing is legacy and
//! not spoken), then SaslAuthenticate requests carrying the mechanism's messages, which
//! `kafkaroo-sasl` produces and checks without I/O. KIP-368: when the broker gives the session a
//! lifetime, the connection authenticates again before it ends, on the same connection, holding other
//! requests back meanwhile (responses to requests already sent keep arriving).

use std::time::Duration;

use bytes::Bytes;
use kafkaroo_sasl::{ClientSession, Mechanism, SaslConfig, Step};
use kafkaroo_wire::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafkaroo_wire::{ErrorCode, StrBytes};
use tracing::{debug, info, warn};

use super::Connection;
use crate::error::{Error, Result};

/// Authenticates `conn` with `sasl`. Returns the session lifetime the broker set (KIP-368), if any.
pub(crate) async fn authenticate(conn: &Connection, sasl: &SaslConfig) -> Result<Option<Duration>> {
    let mechanism = sasl.mechanism.name();
    let addr = conn.addr().to_owned();
    let handshake_version = conn.negotiated_version::<SaslHandshakeRequest>()?;
    if handshake_version < 1 {
        return Err(Error::Config(format!(
            "{addr} speaks only SaslHandshake v0 (Kafka before 1.0), whose token framing kafkaroo does not speak"
        )));
    }
    let handshake = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
    let frame = conn
        .request_frame_during_authentication(&handshake, handshake_version)
        .await?;
    let response = conn.decode_frame::<SaslHandshakeRequest>(handshake_version, frame)?;
    match ErrorCode(response.error_code) {
        ErrorCode::NONE => {}
        ErrorCode::UNSUPPORTED_SASL_MECHANISM => {
            return Err(Error::SaslMechanism {
                addr,
                mechanism,
                enabled: response.mechanisms.iter().map(|m| m.to_string()).collect(),
            });
        }
        code => {
            return Err(Error::Broker {
                api: "SaslHandshake",
                code,
                message: None,
            });
        }
    }

    let sasl_error = |source| Error::Sasl {
        addr: addr.clone(),
        mechanism,
        source,
    };
    let mut session = match sasl.mechanism {
        Mechanism::OAuthBearer => {
            let provider = sasl.token_provider.as_ref().ok_or_else(|| {
                Error::Config("sasl.mechanism=OAUTHBEARER without a token provider".to_owned())
            })?;
            let token = provider.token().await.map_err(sasl_error)?;
            ClientSession::oauthbearer(&token).map_err(sasl_error)?
        }
        Mechanism::Plain | Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
            let credentials = sasl.credentials.as_ref().ok_or_else(|| {
                Error::Config(format!(
                    "sasl.mechanism={mechanism} without sasl.username and sasl.password"
                ))
            })?;
            if sasl.mechanism == Mechanism::Plain {
                ClientSession::plain(credentials).map_err(sasl_error)?
            } else {
                ClientSession::scram(sasl.mechanism, credentials).map_err(sasl_error)?
            }
        }
        other => {
            return Err(Error::Config(format!(
                "SASL mechanism {} is not supported",
                other.name()
            )));
        }
    };

    let version = conn.negotiated_version::<SaslAuthenticateRequest>()?;
    let mut message = session.initial_response();
    loop {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(message));
        let frame = conn
            .request_frame_during_authentication(&request, version)
            .await?;
        let response = conn.decode_frame::<SaslAuthenticateRequest>(version, frame)?;
        if response.error_code != 0 {
            let code = ErrorCode(response.error_code);
            let broker_message = response.error_message.as_ref().map(|m| m.to_string());
            if code == ErrorCode::SASL_AUTHENTICATION_FAILED || code == ErrorCode::ILLEGAL_SASL_STATE {
                // An OAUTHBEARER rejection carries the broker's JSON status in the exchange itself.
                let detail = match (broker_message, session.server_error()) {
                    (Some(m), Some(s)) => Some(format!("{m} (server status: {s})")),
                    (m, s) => m.or_else(|| s.map(str::to_owned)),
                };
                return Err(Error::Authentication {
                    addr,
                    mechanism,
                    message: detail,
                });
            }
            return Err(Error::Broker {
                api: "SaslAuthenticate",
                code,
                message: broker_message,
            });
        }
        match session.step(&response.auth_bytes).map_err(sasl_error)? {
            Step::Respond(next) => message = next,
            Step::Done => {
                let lifetime = u64::try_from(response.session_lifetime_ms)
                    .ok()
                    .filter(|ms| *ms > 0)
                    .map(Duration::from_millis);
                debug!(server.address = %addr, mechanism, ?lifetime, "authenticated");
                return Ok(lifetime);
            }
        }
    }
}

/// KIP-368: re-authenticates `conn` at a random point between 85% and 95% of each session lifetime (as
/// the Java client does, so a fleet does not re-authenticate at once). A failed re-authentication fails
/// the connection with its error; the pool then reconnects, and a fresh authentication reports a
/// credential problem as it would on first contact.
pub(crate) fn schedule_reauthentication(conn: &Connection, sasl: SaslConfig, lifetime: Option<Duration>) {
    let Some(mut lifetime) = lifetime else {
        return;
    };
    let weak = conn.downgrade();
    let task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(reauthentication_delay(lifetime, fastrand::f64())).await;
            let Some(conn) = weak.upgrade() else {
                return;
            };
            if conn.is_closed() {
                return;
            }
            conn.set_reauthenticating(true);
            let result = authenticate(&conn, &sasl).await;
            conn.set_reauthenticating(false);
            match result {
                Ok(Some(next)) => {
                    info!(server.address = %conn.addr(), mechanism = sasl.mechanism.name(), "re-authenticated");
                    lifetime = next;
                }
                Ok(None) => return,
                Err(error) => {
                    warn!(server.address = %conn.addr(), %error, "re-authentication failed; closing the connection");
                    conn.fail(error);
                    return;
                }
            }
        }
    });
    conn.own_task(task.abort_handle());
}

/// When to re-authenticate, for a uniform `jitter` in [0, 1).
fn reauthentication_delay(lifetime: Duration, jitter: f64) -> Duration {
    lifetime.mul_f64(0.85 + 0.10 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reauthentication_happens_between_85_and_95_percent_of_the_lifetime() {
        let lifetime = Duration::from_secs(100);
        assert_eq!(reauthentication_delay(lifetime, 0.0), Duration::from_secs(85));
        assert_eq!(reauthentication_delay(lifetime, 1.0), Duration::from_secs(95));
        assert_eq!(reauthentication_delay(lifetime, 0.5), Duration::from_secs(90));
    }
}
