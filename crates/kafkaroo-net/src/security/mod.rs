//! How a connection proves who it is and protects its bytes: `security.protocol`, TLS (`ssl.*`) and SASL
//! (`sasl.*`), in the property names librdkafka and the Java client use.
//!
//! [`SecurityOptions`] collects properties as the user gives them; [`SecurityOptions::build`] reads the
//! files they name once, when the configuration is built, so a bad path or a wrong key password is an
//! error before anything connects. The result, [`SecurityConfig`], is what every connection of a client
//! uses: bootstrap, metadata, fetch and group coordinator connections alike.

pub mod tls;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use kafkaroo_sasl::{Credentials, Mechanism, SaslConfig, Secret, TokenProvider, UnsecuredTokenProvider};

use crate::error::{Error, Result};
pub use tls::TlsOptions;

/// `security.protocol`: whether connections use TLS, SASL, both or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// Neither TLS nor SASL.
    #[default]
    Plaintext,
    /// TLS (with client certificates when configured), no SASL.
    Ssl,
    /// SASL over plain TCP.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Whether connections start with a TLS handshake.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether connections authenticate with SASL after ApiVersions.
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    /// The property value, as Kafka spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }
}

impl FromStr for SecurityProtocol {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(Self::Plaintext),
            "SSL" => Ok(Self::Ssl),
            "SASL_PLAINTEXT" => Ok(Self::SaslPlaintext),
            "SASL_SSL" => Ok(Self::SaslSsl),
            _ => Err(Error::Config(format!(
                "security.protocol: {s:?} is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
            ))),
        }
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Security settings as the user gives them (properties or typed setters), before files are read.
#[derive(Debug, Clone, Default)]
pub struct SecurityOptions {
    protocol: Option<SecurityProtocol>,
    /// The `ssl.*` settings.
    pub tls: TlsOptions,
    mechanism: Option<Mechanism>,
    username: Option<String>,
    password: Option<Secret>,
    jaas: Option<kafkaroo_sasl::JaasConfig>,
    oauthbearer_config: Option<String>,
    token_provider: Option<Arc<dyn TokenProvider>>,
}

impl SecurityOptions {
    /// Applies one property. `Ok(true)` when `key` is a security property (`security.protocol`,
    /// `sasl.*`, `ssl.*`), `Ok(false)` when it is someone else's; an unusable value is an error naming it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "security.protocol" => self.protocol = Some(value.parse()?),
            "sasl.mechanism" | "sasl.mechanisms" => {
                let mechanism =
                    Mechanism::from_str(value.trim()).map_err(|e| Error::Config(format!("{key}: {e}")))?;
                self.mechanism = Some(mechanism);
            }
            "sasl.username" => self.username = Some(value.to_owned()),
            "sasl.password" => self.password = Some(Secret::from(value)),
            "sasl.jaas.config" => {
                let jaas = kafkaroo_sasl::parse_jaas_config(value)
                    .map_err(|e| Error::Config(format!("sasl.jaas.config: {e}")))?;
                self.jaas = Some(jaas);
            }
            "sasl.oauthbearer.config" => {
                // Checked now so the error points at the property, used at build.
                UnsecuredTokenProvider::from_config(value)
                    .map_err(|e| Error::Config(format!("sasl.oauthbearer.config: {e}")))?;
                self.oauthbearer_config = Some(value.to_owned());
            }
            "sasl.oauthbearer.method" => {
                if !value.trim().eq_ignore_ascii_case("default") {
                    return Err(Error::Config(format!(
                        "sasl.oauthbearer.method: {value:?} is not supported yet (only \"default\"): give \
                         the consumer a token provider of your own (ConsumerConfigBuilder::oauthbearer_token_provider) \
                         that fetches tokens from your identity provider"
                    )));
                }
            }
            "enable.sasl.oauthbearer.unsecure.jwt" => {
                // librdkafka needs this to use sasl.oauthbearer.config; we build the unsecured token from
                // that property whenever no provider is given, so the flag only has to be a boolean.
                if !matches!(value.trim(), "true" | "false") {
                    return Err(Error::Config(format!("{key}: {value:?} is not true or false")));
                }
            }
            "sasl.kerberos.service.name"
            | "sasl.kerberos.principal"
            | "sasl.kerberos.kinit.cmd"
            | "sasl.kerberos.keytab"
            | "sasl.kerberos.min.time.before.relogin" => {
                return Err(Error::Config(format!(
                    "{key}: GSSAPI (Kerberos) is not supported: it needs the Kerberos C libraries; use \
                     PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"
                )));
            }
            _ if key.starts_with("sasl.") => {
                return Err(Error::Config(format!(
                    "{key}: not supported (kafkaroo knows security.protocol, sasl.mechanism(s), \
                     sasl.username, sasl.password, sasl.jaas.config, sasl.oauthbearer.config, \
                     sasl.oauthbearer.method=default)"
                )));
            }
            _ => return self.tls.set(key, value),
        }
        Ok(true)
    }

    /// `security.protocol`.
    pub fn set_protocol(&mut self, protocol: SecurityProtocol) {
        self.protocol = Some(protocol);
    }

    /// SASL with a user name and password (PLAIN or SCRAM).
    pub fn set_sasl_credentials(&mut self, mechanism: Mechanism, username: &str, password: Secret) {
        self.mechanism = Some(mechanism);
        self.username = Some(username.to_owned());
        self.password = Some(password);
    }

    /// OAUTHBEARER with tokens from `provider` (sets `sasl.mechanism=OAUTHBEARER`).
    pub fn set_token_provider(&mut self, provider: Arc<dyn TokenProvider>) {
        self.mechanism = Some(Mechanism::OAuthBearer);
        self.token_provider = Some(provider);
    }

    /// Reads the files the settings name and checks that they fit together.
    pub fn build(&self) -> Result<SecurityConfig> {
        let protocol = self.protocol.unwrap_or_default();
        let tls = if protocol.uses_tls() {
            Some(self.tls.build()?)
        } else {
            None
        };
        let sasl = if protocol.uses_sasl() {
            Some(self.sasl_config()?)
        } else {
            if self.mechanism.is_some() || self.username.is_some() || self.jaas.is_some() {
                return Err(Error::Config(format!(
                    "SASL settings are given but security.protocol is {protocol}: set \
                     security.protocol=SASL_SSL (or SASL_PLAINTEXT) to use them"
                )));
            }
            None
        };
        Ok(SecurityConfig { protocol, tls, sasl })
    }

    fn sasl_config(&self) -> Result<SaslConfig> {
        let jaas_mechanism = self.jaas.as_ref().and_then(|j| match j.login_module {
            kafkaroo_sasl::LoginModule::Plain => Some(Mechanism::Plain),
            kafkaroo_sasl::LoginModule::OAuthBearer => Some(Mechanism::OAuthBearer),
            _ => None,
        });
        // librdkafka's default is GSSAPI, which we cannot do: ask instead of guessing.
        let mechanism = self.mechanism.or(jaas_mechanism).ok_or_else(|| {
            Error::Config(
                "security.protocol uses SASL but sasl.mechanism is not set: set it to PLAIN, \
                 SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"
                    .to_owned(),
            )
        })?;
        let mut config = SaslConfig {
            mechanism,
            credentials: None,
            token_provider: None,
        };
        if mechanism == Mechanism::OAuthBearer {
            let provider: Arc<dyn TokenProvider> = match (&self.token_provider, &self.oauthbearer_config) {
                (Some(p), _) => p.clone(),
                (None, Some(c)) => Arc::new(
                    UnsecuredTokenProvider::from_config(c)
                        .map_err(|e| Error::Config(format!("sasl.oauthbearer.config: {e}")))?,
                ),
                (None, None) => match self.jaas.as_ref() {
                    // Java's OAuthBearerLoginModule with unsecuredLoginStringClaim_sub and friends.
                    Some(jaas) if jaas.option("unsecuredLoginStringClaim_sub").is_some() => Arc::new(
                        UnsecuredTokenProvider::from_jaas(jaas)
                            .map_err(|e| Error::Config(format!("sasl.jaas.config: {e}")))?,
                    ),
                    _ => {
                        return Err(Error::Config(
                            "sasl.mechanism=OAUTHBEARER needs a token: give a token provider \
                             (ConsumerConfigBuilder::oauthbearer_token_provider), or for unsecured test \
                             tokens sasl.oauthbearer.config=principal=<name>"
                                .to_owned(),
                        ));
                    }
                },
            };
            config.token_provider = Some(provider);
            return Ok(config);
        }
        let from_jaas = self.jaas.as_ref().and_then(|j| j.credentials());
        let username = self
            .username
            .clone()
            .or_else(|| from_jaas.as_ref().map(|c| c.username.clone()));
        let password = self
            .password
            .clone()
            .or_else(|| from_jaas.as_ref().map(|c| c.password.clone()));
        match (username, password) {
            (Some(username), Some(password)) => {
                config.credentials = Some(Credentials { username, password });
                Ok(config)
            }
            _ => Err(Error::Config(format!(
                "sasl.mechanism={} needs sasl.username and sasl.password (or a sasl.jaas.config with \
                 username and password)",
                mechanism.name()
            ))),
        }
    }
}

/// What every connection of a client uses: the protocol, the built TLS configuration and the SASL
/// settings. Cheap to clone. `Debug` never shows a secret.
#[derive(Clone, Default)]
pub struct SecurityConfig {
    /// `security.protocol`.
    pub protocol: SecurityProtocol,
    /// The TLS configuration, when the protocol uses TLS.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The SASL settings, when the protocol uses SASL.
    pub sasl: Option<SaslConfig>,
}

impl fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityConfig")
            .field("protocol", &self.protocol)
            .field("tls", &self.tls.as_ref().map(|_| "configured"))
            .field("sasl", &self.sasl)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(props: &[(&str, &str)]) -> Result<SecurityOptions> {
        let mut options = SecurityOptions::default();
        for (k, v) in props {
            assert!(options.set(k, v)?, "{k} must be a security property");
        }
        Ok(options)
    }

    #[test]
    fn protocol_names_are_case_insensitive_and_bad_ones_list_the_choices() {
        assert_eq!(
            "sasl_ssl".parse::<SecurityProtocol>().unwrap(),
            SecurityProtocol::SaslSsl
        );
        assert_eq!("SSL".parse::<SecurityProtocol>().unwrap(), SecurityProtocol::Ssl);
        let err = "TLS".parse::<SecurityProtocol>().unwrap_err().to_string();
        assert!(err.contains("PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"), "{err}");
        assert!(
            !SecurityOptions::default()
                .set("bootstrap.servers", "a:1")
                .unwrap()
        );
    }

    #[test]
    fn a_java_jaas_config_gives_mechanism_and_credentials() {
        let o = options(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p w\";",
            ),
        ])
        .unwrap();
        let sasl = o.build().unwrap().sasl.unwrap();
        assert_eq!(sasl.mechanism, Mechanism::Plain);
        let credentials = sasl.credentials.unwrap();
        assert_eq!(
            (credentials.username.as_str(), credentials.password.expose()),
            ("u", "p w")
        );
    }

    #[test]
    fn settings_that_do_not_fit_together_are_named() {
        let err = options(&[("sasl.mechanism", "PLAIN"), ("sasl.username", "u")])
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("security.protocol is PLAINTEXT"), "{err}");
        let err = options(&[
            ("security.protocol", "SASL_SSL"),
            ("ssl.endpoint.identification.algorithm", "none"),
        ])
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
        assert!(err.contains("sasl.mechanism is not set"), "{err}");
        let err = options(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-256"),
        ])
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
        assert!(err.contains("needs sasl.username and sasl.password"), "{err}");
        let err = options(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "OAUTHBEARER"),
        ])
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
        assert!(err.contains("needs a token"), "{err}");
        let err = SecurityOptions::default()
            .set("sasl.mechanism", "GSSAPI")
            .unwrap_err()
            .to_string();
        assert!(err.contains("Kerberos"), "{err}");
        let err = SecurityOptions::default()
            .set("sasl.login.class", "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sasl.login.class: not supported"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let o = options(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
            ("sasl.password", "hunter2-secret"),
        ])
        .unwrap();
        let built = o.build().unwrap();
        for text in [format!("{o:?}"), format!("{built:?}")] {
            assert!(!text.contains("hunter2-secret"), "{text}");
            assert!(text.contains("alice"), "{text}");
        }
    }
}
