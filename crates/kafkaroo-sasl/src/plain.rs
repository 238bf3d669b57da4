//! PLAIN (RFC 4616): one message, `authzid NUL username NUL password`, with an empty authzid as Kafka
//! sends it. The broker answers a successful SaslAuthenticate with empty auth bytes.

use crate::{Credentials, SaslError, Secret, Step};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Initial,
    Sent,
    Done,
}

pub(crate) struct PlainSession {
    username: String,
    password: Secret,
    state: State,
}

impl PlainSession {
    pub(crate) fn new(credentials: &Credentials) -> Result<Self, SaslError> {
        if credentials.username.is_empty() {
            return Err(SaslError::InvalidCredentials {
                problem: "the SASL user name is empty: set sasl.username",
            });
        }
        if credentials.username.contains('\0') || credentials.password.expose().contains('\0') {
            return Err(SaslError::InvalidCredentials {
                problem: "the SASL/PLAIN user name or password contains a NUL character, which PLAIN uses as \
                          its separator: remove it",
            });
        }
        Ok(Self {
            username: credentials.username.clone(),
            password: credentials.password.clone(),
            state: State::Initial,
        })
    }

    pub(crate) fn initial_response(&mut self) -> Vec<u8> {
        if self.state == State::Initial {
            self.state = State::Sent;
        }
        let password = self.password.expose();
        let mut out = Vec::with_capacity(2 + self.username.len() + password.len());
        out.push(0);
        out.extend_from_slice(self.username.as_bytes());
        out.push(0);
        out.extend_from_slice(password.as_bytes());
        out
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
            State::Sent => Err(SaslError::MalformedServerMessage {
                mechanism: "PLAIN",
                message: "answer",
                problem: format!("expected no bytes after a successful login, got {}", server.len()),
            }),
        }
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    pub(crate) fn state_name(&self) -> &'static str {
        match self.state {
            State::Initial => "initial",
            State::Sent => "sent",
            State::Done => "complete",
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{ClientSession, Credentials, SaslError, Step};

    #[test]
    fn message_is_empty_authzid_user_password() {
        let mut s = ClientSession::plain(&Credentials::new("alice", "pa ss")).unwrap();
        assert_eq!(s.initial_response(), b"\0alice\0pa ss");
        assert!(!s.is_complete());
        assert_eq!(s.step(b""), Ok(Step::Done));
        assert!(s.is_complete());
    }

    #[test]
    fn utf8_passes_through_unchanged() {
        let mut s = ClientSession::plain(&Credentials::new("jürgen", "ñ€")).unwrap();
        assert_eq!(s.initial_response(), "\0jürgen\0ñ€".as_bytes());
    }

    #[test]
    fn steps_out_of_order_are_errors() {
        let mut s = ClientSession::plain(&Credentials::new("a", "b")).unwrap();
        assert_eq!(
            s.step(b""),
            Err(SaslError::OutOfOrder {
                problem: "step() called before initial_response()"
            })
        );
        // A failed session stays failed.
        s.initial_response();
        assert!(matches!(s.step(b""), Err(SaslError::OutOfOrder { .. })));

        let mut s = ClientSession::plain(&Credentials::new("a", "b")).unwrap();
        s.initial_response();
        assert_eq!(s.step(b""), Ok(Step::Done));
        assert_eq!(
            s.step(b"").unwrap_err().to_string(),
            "SASL exchange driven out of order: step() called after the exchange completed (use a new \
             ClientSession for each authentication)"
        );
        assert!(s.is_complete(), "a stray step does not undo the authentication");
    }

    #[test]
    fn unexpected_server_bytes_are_an_error() {
        let mut s = ClientSession::plain(&Credentials::new("a", "b")).unwrap();
        s.initial_response();
        assert_eq!(
            s.step(b"xyz").unwrap_err().to_string(),
            "the broker's PLAIN answer is malformed: expected no bytes after a successful login, got 3"
        );
        assert!(!s.is_complete());
    }

    #[test]
    fn bad_credentials_are_refused_without_echoing_them() {
        let e = ClientSession::plain(&Credentials::new("", "secret")).unwrap_err();
        assert_eq!(e.to_string(), "the SASL user name is empty: set sasl.username");
        let e = ClientSession::plain(&Credentials::new("u", "sec\0ret")).unwrap_err();
        assert!(e.to_string().contains("NUL"), "{e}");
        assert!(!e.to_string().contains("sec"), "{e}");
    }
}
