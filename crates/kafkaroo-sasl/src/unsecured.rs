//! [`UnsecuredTokenProvider`]: unsigned JWS tokens (RFC 7515 appendix A.5, header `{"alg":"none"}`) that
//! Kafka's default OAUTHBEARER broker validator accepts. For tests and development only: anyone can
//! forge one.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::oauthbearer::check_extension;
use crate::{JaasConfig, LoginModule, OAuthToken, SaslError, Secret, TokenProvider};

/// Token lifetime when none is configured, as in librdkafka and Java.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// Makes unsecured JWS tokens `base64url(header).base64url(claims).` (empty signature) with the claims
/// `<principal claim>` (default `sub`), `iat`, `exp` (seconds since the epoch, with milliseconds as a
/// fraction, as librdkafka writes them and Java's `OAuthBearerUnsecuredJws` reads them) and, when
/// given, `<scope claim>` (default `scope`) as an array.
#[derive(Clone, PartialEq)]
pub struct UnsecuredTokenProvider {
    principal: String,
    principal_claim_name: String,
    scope: Vec<String>,
    scope_claim_name: String,
    lifetime: Duration,
    extensions: Vec<(String, String)>,
    /// Other claims from the JAAS `unsecuredLogin*Claim_*` options.
    extra_claims: Vec<(String, Value)>,
}

impl fmt::Debug for UnsecuredTokenProvider {
    /// Shows extension keys only: extension values may be credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.extensions.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("UnsecuredTokenProvider")
            .field("principal", &self.principal)
            .field("principal_claim_name", &self.principal_claim_name)
            .field("scope", &self.scope)
            .field("scope_claim_name", &self.scope_claim_name)
            .field("lifetime", &self.lifetime)
            .field("extension_keys", &keys)
            .finish_non_exhaustive()
    }
}

impl UnsecuredTokenProvider {
    /// Tokens for `principal`, valid for an hour, no scope, no extensions.
    pub fn new(principal: impl Into<String>) -> Self {
        Self {
            principal: principal.into(),
            principal_claim_name: "sub".to_owned(),
            scope: Vec::new(),
            scope_claim_name: "scope".to_owned(),
            lifetime: DEFAULT_LIFETIME,
            extensions: Vec::new(),
            extra_claims: Vec::new(),
        }
    }

    /// The scope claim's values.
    pub fn with_scope<S: Into<String>>(mut self, scope: impl IntoIterator<Item = S>) -> Self {
        self.scope = scope.into_iter().map(Into::into).collect();
        self
    }

    /// How long each token is valid (`exp - iat`).
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Names the principal claim (default `sub`).
    pub fn with_principal_claim_name(mut self, name: impl Into<String>) -> Self {
        self.principal_claim_name = name.into();
        self
    }

    /// Names the scope claim (default `scope`).
    pub fn with_scope_claim_name(mut self, name: impl Into<String>) -> Self {
        self.scope_claim_name = name.into();
        self
    }

    /// Adds a SASL extension (KIP-342), checked against RFC 7628 §3.1.
    pub fn with_extension(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, SaslError> {
        let (key, value) = (key.into(), value.into());
        check_extension(&key, &value)?;
        self.extensions.push((key, value));
        Ok(self)
    }

    /// Parses librdkafka's `sasl.oauthbearer.config`: space-separated `principal=<p>` (required),
    /// `principalClaimName=<name>`, `scope=<a,b>`, `scopeClaimName=<name>`, `lifeSeconds=<n>` and
    /// `extension_<key>=<value>`. Each name at most once; values cannot contain spaces.
    pub fn from_config(config: &str) -> Result<Self, SaslError> {
        let err = |problem: String| SaslError::OAuthBearerConfig { problem };
        if config.trim().is_empty() {
            return Err(err(
                "sasl.oauthbearer.config is empty: give at least principal=<name>".to_owned(),
            ));
        }
        let mut provider = Self::new(String::new());
        let mut seen: Vec<&str> = Vec::new();
        for (n, item) in config.split_ascii_whitespace().enumerate() {
            // Not echoed: it may be part of a value.
            let Some((name, value)) = item.split_once('=') else {
                return Err(err(format!(
                    "sasl.oauthbearer.config: item {} is not name=value (items are separated by spaces, so \
                     values cannot contain one)",
                    n + 1
                )));
            };
            if seen.contains(&name) {
                return Err(err(format!(
                    "sasl.oauthbearer.config gives {name:?} twice: keep one"
                )));
            }
            seen.push(name);
            if value.is_empty() {
                return Err(err(format!(
                    "sasl.oauthbearer.config: {name} is empty: give it a value"
                )));
            }
            match name {
                "principal" => provider.principal = value.to_owned(),
                "principalClaimName" => provider.principal_claim_name = value.to_owned(),
                "scopeClaimName" => provider.scope_claim_name = value.to_owned(),
                "scope" => provider.scope = scope_list(value.split(',')),
                "lifeSeconds" => {
                    let secs = value
                        .parse::<u32>()
                        .ok()
                        .filter(|s| (1..=i32::MAX as u32).contains(s))
                        .ok_or_else(|| {
                            err("sasl.oauthbearer.config: lifeSeconds must be a whole number of seconds from 1 \
                                 to 2147483647"
                                .to_owned())
                        })?;
                    provider.lifetime = Duration::from_secs(secs.into());
                }
                _ => match name.strip_prefix("extension_") {
                    Some(key) => provider = provider.with_extension(key, value)?,
                    None => {
                        return Err(err(format!(
                            "sasl.oauthbearer.config: unknown name {:?} (names: principal, principalClaimName, \
                             scope, scopeClaimName, lifeSeconds, extension_<name>)",
                            short(name)
                        )));
                    }
                },
            }
        }
        if provider.principal.is_empty() {
            return Err(err(
                "sasl.oauthbearer.config has no principal: add principal=<name>".to_owned(),
            ));
        }
        Ok(provider)
    }

    /// Reads the options Java's `OAuthBearerUnsecuredLoginCallbackHandler` reads from an
    /// `OAuthBearerLoginModule` JAAS entry: `unsecuredLoginStringClaim_<claim>` (the principal claim,
    /// `sub` by default, is required), `unsecuredLoginListClaim_<claim>` (first character is the
    /// separator), `unsecuredLoginNumberClaim_<claim>`, `unsecuredLoginExtension_<key>`,
    /// `unsecuredLoginPrincipalClaimName`, `unsecuredLoginScopeClaimName`, `unsecuredLoginLifetimeSeconds`.
    pub fn from_jaas(jaas: &JaasConfig) -> Result<Self, SaslError> {
        let err = |problem: String| SaslError::OAuthBearerConfig { problem };
        if jaas.login_module != LoginModule::OAuthBearer {
            return Err(err(format!(
                "sasl.jaas.config names {}, not {}: unsecured tokens come from the OAUTHBEARER login module",
                jaas.login_module.class_name(),
                LoginModule::OAuthBearer.class_name()
            )));
        }
        let mut provider = Self::new(String::new());
        if let Some(name) = jaas.option("unsecuredLoginPrincipalClaimName") {
            provider.principal_claim_name = name.to_owned();
        }
        if let Some(name) = jaas.option("unsecuredLoginScopeClaimName") {
            provider.scope_claim_name = name.to_owned();
        }
        if let Some(secs) = jaas.option("unsecuredLoginLifetimeSeconds") {
            let secs: u32 = secs
                .trim()
                .parse()
                .ok()
                .filter(|s| (1..=i32::MAX as u32).contains(s))
                .ok_or_else(|| {
                    err("sasl.jaas.config: unsecuredLoginLifetimeSeconds must be a whole number of seconds from \
                         1 to 2147483647"
                        .to_owned())
                })?;
            provider.lifetime = Duration::from_secs(secs.into());
        }
        for (key, value) in &jaas.options {
            let value = value.expose();
            let (kind, claim) = match key.split_once('_') {
                Some((kind, claim)) if !claim.is_empty() => (kind, claim),
                _ => continue,
            };
            let claim_value = match kind {
                "unsecuredLoginExtension" => {
                    provider = provider.with_extension(claim, value)?;
                    continue;
                }
                "unsecuredLoginStringClaim" => Value::String(value.to_owned()),
                "unsecuredLoginListClaim" => {
                    let mut chars = value.chars();
                    let items: Vec<String> = match chars.next() {
                        Some(sep) => scope_list(chars.as_str().split(sep)),
                        None => Vec::new(),
                    };
                    Value::from(items)
                }
                "unsecuredLoginNumberClaim" => {
                    let n: serde_json::Number = value.trim().parse().map_err(|_| {
                        err(format!(
                            "sasl.jaas.config: {key} is not a number: give digits, e.g. {key}=\"5\""
                        ))
                    })?;
                    Value::Number(n)
                }
                _ => continue,
            };
            if claim == "iat" || claim == "exp" {
                return Err(err(format!(
                    "sasl.jaas.config: {key} sets a claim the token provider computes: remove it \
                     (use unsecuredLoginLifetimeSeconds for the lifetime)"
                )));
            }
            provider.extra_claims.retain(|(name, _)| name != claim);
            provider.extra_claims.push((claim.to_owned(), claim_value));
        }
        let principal_claim = provider.principal_claim_name.clone();
        match provider
            .extra_claims
            .iter()
            .position(|(name, _)| *name == principal_claim)
        {
            Some(i) => match provider.extra_claims.remove(i).1 {
                Value::String(p) if !p.is_empty() => provider.principal = p,
                _ => {
                    return Err(err(format!(
                        "sasl.jaas.config: the principal claim {principal_claim:?} must be a non-empty \
                         unsecuredLoginStringClaim_{principal_claim}"
                    )));
                }
            },
            None => {
                return Err(err(format!(
                    "sasl.jaas.config has no principal: add unsecuredLoginStringClaim_{principal_claim}=\"<name>\""
                )));
            }
        }
        let scope_claim = provider.scope_claim_name.clone();
        if let Some(i) = provider
            .extra_claims
            .iter()
            .position(|(name, _)| *name == scope_claim)
            && let Value::Array(items) = &provider.extra_claims[i].1
        {
            provider.scope = items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            provider.extra_claims.remove(i);
        }
        Ok(provider)
    }

    /// The token for the instant `now` (`iat = now`, `exp = now + lifetime`). Sans-IO: no clock read.
    pub fn token_at(&self, now: SystemTime) -> Result<OAuthToken, SaslError> {
        if self.principal.is_empty() {
            return Err(SaslError::TokenProvider {
                message: "the unsecured token's principal is empty: give a principal name".to_owned(),
            });
        }
        let since_epoch = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| SaslError::TokenProvider {
                message: "the clock is before 1970: set the system time".to_owned(),
            })?;
        let expires_at = now
            .checked_add(self.lifetime)
            .ok_or_else(|| SaslError::TokenProvider {
                message: "the unsecured token's lifetime is too long to represent: shorten it".to_owned(),
            })?;
        let iat_ms = since_epoch.as_millis();
        let exp_ms = iat_ms + self.lifetime.as_millis();
        let mut claims = Map::new();
        for (name, value) in &self.extra_claims {
            claims.insert(name.clone(), value.clone());
        }
        claims.insert(
            self.principal_claim_name.clone(),
            Value::from(self.principal.clone()),
        );
        claims.insert("iat".to_owned(), seconds(iat_ms));
        claims.insert("exp".to_owned(), seconds(exp_ms));
        if !self.scope.is_empty() {
            claims.insert(self.scope_claim_name.clone(), Value::from(self.scope.clone()));
        }
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let claims = URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string());
        Ok(OAuthToken {
            value: Secret::from(format!("{header}.{claims}.")),
            principal: self.principal.clone(),
            expires_at,
            extensions: self.extensions.clone(),
        })
    }
}

impl TokenProvider for UnsecuredTokenProvider {
    /// Reads the system clock (`SystemTime::now()`) for `iat`; see [`UnsecuredTokenProvider::token_at`].
    fn token(&self) -> Pin<Box<dyn Future<Output = Result<OAuthToken, SaslError>> + Send + '_>> {
        Box::pin(std::future::ready(self.token_at(SystemTime::now())))
    }
}

/// Non-empty items, first occurrence kept, as librdkafka builds the scope.
fn scope_list<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items.filter(|s| !s.is_empty()) {
        if !out.iter().any(|s| s == item) {
            out.push(item.to_owned());
        }
    }
    out
}

/// Milliseconds as JSON seconds: an integer when whole, else with the milliseconds as a fraction.
fn seconds(ms: u128) -> Value {
    if ms.is_multiple_of(1000) {
        Value::from(u64::try_from(ms / 1000).unwrap_or(u64::MAX))
    } else {
        Value::from(ms as f64 / 1000.0)
    }
}

/// A config item shortened for an error message.
fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests;
