//! [`Mechanism`]: the SASL mechanisms this crate implements, by their IANA names.

use std::fmt;
use std::str::FromStr;

use crate::SaslError;

/// A SASL mechanism, as named in `sasl.mechanism` and in the SaslHandshake request.
///
/// GSSAPI (Kerberos) is deliberately absent: every usable implementation needs the Kerberos C libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// `PLAIN` (RFC 4616): user name and password in clear, so only over TLS.
    Plain,
    /// `SCRAM-SHA-256` (RFC 5802, RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512` (RFC 5802 with SHA-512, as Kafka registers it).
    ScramSha512,
    /// `OAUTHBEARER` (RFC 7628, KIP-255).
    OAuthBearer,
}

impl Mechanism {
    /// Every mechanism, in the order error messages list them.
    pub const ALL: [Self; 4] = [
        Self::Plain,
        Self::ScramSha256,
        Self::ScramSha512,
        Self::OAuthBearer,
    ];

    /// The name the broker knows it by: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// Whether this is one of the SCRAM mechanisms.
    pub fn is_scram(self) -> bool {
        matches!(self, Self::ScramSha256 | Self::ScramSha512)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mechanism {
    type Err = SaslError;

    /// Case-insensitive, surrounding whitespace ignored. `GSSAPI` gets an error of its own.
    fn from_str(s: &str) -> Result<Self, SaslError> {
        let name = s.trim();
        if let Some(m) = Self::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
        {
            return Ok(m);
        }
        if name.eq_ignore_ascii_case("GSSAPI") {
            return Err(SaslError::GssapiUnsupported);
        }
        Err(SaslError::UnknownMechanism {
            name: name.chars().take(64).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for m in Mechanism::ALL {
            assert_eq!(m.name().parse::<Mechanism>(), Ok(m));
            assert_eq!(m.name().to_lowercase().parse::<Mechanism>(), Ok(m));
            assert_eq!(m.to_string(), m.name());
        }
        assert_eq!(" scram-sha-512 ".parse::<Mechanism>(), Ok(Mechanism::ScramSha512));
        assert_eq!("OAuthBearer".parse::<Mechanism>(), Ok(Mechanism::OAuthBearer));
        assert!(Mechanism::ScramSha256.is_scram() && !Mechanism::Plain.is_scram());
    }

    #[test]
    fn gssapi_gets_its_own_error() {
        let e = "gssapi".parse::<Mechanism>().unwrap_err();
        assert_eq!(e, SaslError::GssapiUnsupported);
        assert_eq!(
            e.to_string(),
            "GSSAPI (Kerberos) is not supported: it needs the Kerberos C libraries; use PLAIN, SCRAM-SHA-256, \
             SCRAM-SHA-512 or OAUTHBEARER"
        );
    }

    #[test]
    fn unknown_names_list_the_supported_ones() {
        let e = "SCRAM-SHA-1".parse::<Mechanism>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown SASL mechanism \"SCRAM-SHA-1\": use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"
        );
        assert!(matches!(
            "".parse::<Mechanism>(),
            Err(SaslError::UnknownMechanism { .. })
        ));
    }
}
