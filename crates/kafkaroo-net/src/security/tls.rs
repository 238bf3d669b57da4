//! TLS client settings: the `ssl.*` properties of librdkafka and the Java client, turned into a rustls
//! [`ClientConfig`].
//!
//! Everything is read and checked once, in [`TlsOptions::build`], so a wrong path, a wrong key password
//! or a key that does not match its certificate is a configuration error naming the property, not a
//! handshake failure on every connection. Handshake failures are put into words by
//! [`explain_tls_error`] and [`explain_tls_io_error`], because rustls's own texts ("invalid peer
//! certificate: UnknownIssuer") do not say which property to change.
//!
//! Properties (librdkafka's name first, then Java's):
//! - `ssl.ca.location` / `ssl.truststore.location`: CA certificates: a PEM file, a directory of
//!   `*.pem`/`*.crt` files, or `probe` (the system store). `ssl.ca.pem` / `ssl.truststore.certificates`:
//!   CA certificates as PEM text, added to those.
//! - `ssl.certificate.location`, `ssl.certificate.pem` / `ssl.keystore.certificate.chain`: the client
//!   chain. `ssl.key.location`, `ssl.key.pem` / `ssl.keystore.key`: its key (PKCS#8, PKCS#1, SEC1 or
//!   encrypted PKCS#8 with `ssl.key.password`). `ssl.keystore.location`: one PEM file with both.
//! - `ssl.crl.location`: PEM CRLs the broker's certificate is checked against (as OpenSSL's `CRL_CHECK`).
//! - `ssl.endpoint.identification.algorithm`: `https` (default) or `none`/empty, which skips the
//!   hostname check only. `enable.ssl.certificate.verification=false` skips every check (insecure).
//! - `ssl.protocol`, `ssl.enabled.protocols`: `TLSv1.2`, `TLSv1.3` (older names in a list are skipped).
//! - `ssl.cipher.suites`: IANA, rustls or OpenSSL names; one the provider lacks is an error. A list of
//!   TLS 1.2 suites only leaves TLS 1.3's as they are, as OpenSSL does.
//!
//! Without any CA setting the system store is used (through rustls-native-certs, which honours
//! `SSL_CERT_FILE` and `SSL_CERT_DIR`). OpenSSL- and JVM-only settings are refused with the reason.

use std::fmt;
use std::sync::Arc;

use pkcs8::der::zeroize::Zeroizing;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, SupportedCipherSuite, SupportedProtocolVersion};

use crate::error::Error;

mod files;
mod verify;

#[cfg(test)]
mod tests;

use files::{Origin, config_error};

/// The `ssl.*` settings, in librdkafka's and Java's names; [`TlsOptions::build`] turns them into a rustls
/// config. Its `Debug` names files, never key material or passwords.
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// `ssl.ca.location` / `ssl.truststore.location`.
    ca_location: Option<Sourced<CaLocation>>,
    /// `ssl.ca.pem` / `ssl.truststore.certificates`.
    ca_pem: Option<Sourced<String>>,
    /// `ssl.crl.location`.
    crl_location: Option<std::path::PathBuf>,
    /// The client certificate chain.
    certificate: Option<Sourced<Source>>,
    /// The client private key.
    key: Option<Sourced<Source>>,
    /// `ssl.key.password`.
    key_password: Option<Zeroizing<String>>,
    /// `ssl.endpoint.identification.algorithm=none`.
    skip_hostname_verification: bool,
    /// `enable.ssl.certificate.verification=false`.
    skip_verification: bool,
    /// `ssl.protocol=TLSv1.2`: Java's cap on the version.
    tls12_only_by_protocol: bool,
    /// `ssl.enabled.protocols`, as (TLS 1.2, TLS 1.3).
    enabled_protocols: Option<(bool, bool)>,
    /// `ssl.cipher.suites`, resolved against the provider.
    cipher_suites: Option<Vec<SupportedCipherSuite>>,
    /// A config given whole by the application.
    custom: Option<Arc<ClientConfig>>,
}

/// A value and the property that set it, so errors name what the user wrote.
#[derive(Clone)]
struct Sourced<T> {
    property: &'static str,
    value: T,
}

/// Where PEM text comes from.
#[derive(Clone)]
enum Source {
    File(std::path::PathBuf),
    /// Inline PEM; zeroed on drop because it may hold a private key.
    Pem(Zeroizing<String>),
}

#[derive(Clone)]
enum CaLocation {
    /// A file or a directory.
    Path(std::path::PathBuf),
    /// `probe`: the system store.
    Probe,
}

impl TlsOptions {
    /// Applies one property. `Ok(true)` when `key` is a TLS property (handled), `Ok(false)` when it is not
    /// one of ours (including unknown `ssl.*` names, so the caller reports every unknown key the same
    /// way). An empty value unsets a file or PEM setting. Settings that only make sense with OpenSSL or
    /// a JVM are an error saying why, rather than being silently ignored.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, Error> {
        let trimmed = value.trim();
        match key {
            "ssl.ca.location" | "ssl.truststore.location" => {
                let location = if trimmed.eq_ignore_ascii_case("probe") && key == "ssl.ca.location" {
                    CaLocation::Probe
                } else {
                    CaLocation::Path(trimmed.into())
                };
                set_slot(&mut self.ca_location, static_name(key), trimmed, location)?;
            }
            "ssl.ca.pem" | "ssl.truststore.certificates" => {
                set_slot(&mut self.ca_pem, static_name(key), trimmed, value.to_owned())?;
            }
            "ssl.crl.location" => {
                self.crl_location = (!trimmed.is_empty()).then(|| trimmed.into());
            }
            "ssl.certificate.location" => {
                let source = Source::File(trimmed.into());
                set_slot(&mut self.certificate, static_name(key), trimmed, source)?;
            }
            "ssl.certificate.pem" | "ssl.keystore.certificate.chain" => {
                let source = Source::Pem(Zeroizing::new(value.to_owned()));
                set_slot(&mut self.certificate, static_name(key), trimmed, source)?;
            }
            "ssl.key.location" => {
                let source = Source::File(trimmed.into());
                set_slot(&mut self.key, static_name(key), trimmed, source)?;
            }
            "ssl.key.pem" | "ssl.keystore.key" => {
                let source = Source::Pem(Zeroizing::new(value.to_owned()));
                set_slot(&mut self.key, static_name(key), trimmed, source)?;
            }
            "ssl.keystore.location" => {
                // One PEM file holding the key and its chain: it fills both slots.
                let name = static_name(key);
                let mut certificate = self.certificate.clone();
                set_slot(&mut certificate, name, trimmed, Source::File(trimmed.into()))?;
                set_slot(&mut self.key, name, trimmed, Source::File(trimmed.into()))?;
                self.certificate = certificate;
            }
            "ssl.key.password" => {
                self.key_password = (!value.is_empty()).then(|| Zeroizing::new(value.to_owned()));
            }
            "ssl.truststore.type" | "ssl.keystore.type" => check_store_type(key, trimmed)?,
            "ssl.endpoint.identification.algorithm" => {
                self.skip_hostname_verification = match trimmed.to_ascii_lowercase().as_str() {
                    "https" => false,
                    "" | "none" => true,
                    _ => {
                        return Err(config_error(format!(
                            "{key}: \"{trimmed}\" is not supported: use https (verify the broker's \
                             hostname, the default) or none"
                        )));
                    }
                };
            }
            "enable.ssl.certificate.verification" => {
                self.skip_verification = !parse_bool(key, trimmed)?;
            }
            "ssl.protocol" => {
                self.tls12_only_by_protocol = match trimmed.to_ascii_uppercase().as_str() {
                    "TLS" | "SSL" | "TLSV1.3" => false,
                    "TLSV1.2" => true,
                    _ => {
                        return Err(config_error(format!(
                            "{key}: \"{trimmed}\" is not supported: rustls speaks TLSv1.2 and TLSv1.3 \
                             only; use one of those"
                        )));
                    }
                };
            }
            "ssl.enabled.protocols" => self.enabled_protocols = parse_protocols(key, trimmed)?,
            "ssl.cipher.suites" => self.cipher_suites = parse_cipher_suites(key, trimmed)?,
            // JSSE plumbing with nothing to map to: the Java defaults are accepted so copied
            // configurations work, anything else is refused.
            "ssl.keymanager.algorithm" | "ssl.trustmanager.algorithm" => {
                let default = if key == "ssl.keymanager.algorithm" {
                    "SunX509"
                } else {
                    "PKIX"
                };
                if !trimmed.is_empty() && !trimmed.eq_ignore_ascii_case(default) {
                    return Err(unsupported(
                        key,
                        "a Java (JSSE) setting; only its default is accepted",
                    ));
                }
            }
            "ssl.keystore.password" => {
                return Err(unsupported(
                    key,
                    "kafkaroo reads PEM keystores, which have no store password: use ssl.key.password \
                     for an encrypted key",
                ));
            }
            "ssl.truststore.password" => {
                return Err(unsupported(key, "a PEM truststore has no password: remove it"));
            }
            "ssl.engine.location"
            | "ssl.engine.id"
            | "ssl_engine_callback_data"
            | "ssl.providers"
            | "ssl.sigalgs.list"
            | "ssl.curves.list"
            | "ssl.ca.certificate.stores"
            | "ssl.certificate.verify_cb"
            | "ssl_key"
            | "ssl_certificate"
            | "ssl_ca" => {
                return Err(unsupported(key, "kafkaroo uses rustls, not OpenSSL"));
            }
            "ssl.provider" | "ssl.secure.random.implementation" | "ssl.engine.factory.class" => {
                return Err(unsupported(
                    key,
                    "a Java (JSSE) setting; kafkaroo uses rustls: use TlsOptions::custom_config for full \
                     control",
                ));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Full control: a ready rustls config. The other `ssl.*` settings are then ignored, including
    /// the CA, the client certificate and the verification switches.
    pub fn custom_config(&mut self, config: Arc<ClientConfig>) {
        self.custom = Some(config);
    }

    /// Reads the files and builds the rustls config (TLS 1.2 and 1.3 unless restricted). Called once when
    /// the client configuration is built, so every problem surfaces there.
    pub fn build(&self) -> Result<Arc<ClientConfig>, Error> {
        if let Some(custom) = &self.custom {
            return Ok(custom.clone());
        }
        if !PROVIDER_COMPILED_IN {
            return Err(no_provider());
        }
        let provider = self.provider();
        let versions = self.versions()?;
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| {
                config_error(format!(
                    "ssl.cipher.suites and ssl.enabled.protocols leave nothing usable: {e}"
                ))
            })?;
        let builder = if self.skip_verification {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verify::NoVerification::new(&provider)))
        } else {
            let roots = Arc::new(self.roots()?);
            let mut verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone());
            let crls = self.crls()?;
            if !crls.is_empty() {
                // librdkafka's ssl.crl.location sets OpenSSL's CRL_CHECK: the leaf only, and a leaf
                // whose issuer has no CRL fails.
                verifier = verifier.with_crls(crls).only_check_end_entity_revocation();
            }
            let verifier = verifier
                .build()
                .map_err(|e| config_error(format!("cannot build the certificate verifier: {e}")))?;
            if self.skip_hostname_verification {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verify::ChainOnly::new(verifier)))
            } else {
                builder.with_webpki_verifier(verifier)
            }
        };
        let config = match self.client_identity()? {
            None => builder.with_no_client_auth(),
            Some(Identity { chain, key, origin }) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| origin.explain(&e))?,
        };
        Ok(Arc::new(config))
    }

    /// The compiled-in provider, with the cipher suites narrowed by `ssl.cipher.suites`.
    fn provider(&self) -> Arc<CryptoProvider> {
        let base = crypto_provider();
        let Some(listed) = &self.cipher_suites else {
            return base;
        };
        let mut suites = listed.clone();
        if !listed.iter().any(|s| s.version() == &rustls::version::TLS13) {
            // As OpenSSL does: a list of TLS 1.2 suites leaves TLS 1.3's as they are.
            suites.extend(
                base.cipher_suites
                    .iter()
                    .filter(|s| s.version() == &rustls::version::TLS13),
            );
        }
        Arc::new(CryptoProvider {
            cipher_suites: suites,
            ..(*base).clone()
        })
    }

    fn versions(&self) -> Result<Vec<&'static SupportedProtocolVersion>, Error> {
        let (tls12, mut tls13) = self.enabled_protocols.unwrap_or((true, true));
        if self.tls12_only_by_protocol {
            tls13 = false;
        }
        let mut versions = Vec::new();
        if tls13 {
            versions.push(&rustls::version::TLS13);
        }
        if tls12 {
            versions.push(&rustls::version::TLS12);
        }
        if versions.is_empty() {
            return Err(config_error(
                "ssl.enabled.protocols=TLSv1.3 and ssl.protocol=TLSv1.2 leave no TLS version: change \
                 one of them",
            ));
        }
        Ok(versions)
    }

    /// The trust anchors: the configured CA files and PEM, else the system store.
    fn roots(&self) -> Result<RootCertStore, Error> {
        let mut roots = RootCertStore::empty();
        if self.ca_location.is_none() && self.ca_pem.is_none() {
            files::add_system_roots(&mut roots, None)?;
            return Ok(roots);
        }
        if let Some(Sourced { property, value }) = &self.ca_location {
            match value {
                CaLocation::Probe => files::add_system_roots(&mut roots, Some(property))?,
                CaLocation::Path(path) => files::add_ca_location(&mut roots, property, path)?,
            }
        }
        if let Some(Sourced { property, value }) = &self.ca_pem {
            let origin = Origin::inline(property);
            let certs = files::certificates(value.as_bytes(), &origin)?;
            if certs.is_empty() {
                return Err(config_error(format!(
                    "{property}: no certificate found: expected PEM text with -----BEGIN CERTIFICATE-----"
                )));
            }
            files::add_roots(&mut roots, certs, &origin)?;
        }
        Ok(roots)
    }

    fn crls(&self) -> Result<Vec<CertificateRevocationListDer<'static>>, Error> {
        match &self.crl_location {
            None => Ok(Vec::new()),
            Some(path) => files::crls(path),
        }
    }

    /// The client certificate chain and key, when one is configured. A key file that also holds the
    /// chain (a PEM keystore) needs no separate certificate setting.
    fn client_identity(&self) -> Result<Option<Identity>, Error> {
        let (certificate, key) = match (&self.certificate, &self.key) {
            (None, None) => return Ok(None),
            (Some(certificate), None) => {
                return Err(config_error(format!(
                    "{} is set but ssl.key.location is not: set ssl.key.location (or ssl.key.pem) to the \
                     client certificate's private key",
                    certificate.property
                )));
            }
            (certificate, Some(key)) => (certificate, key),
        };
        let key_text = key.value.read(key.property)?;
        let key_origin = key.value.origin(key.property);
        let password = self.key_password.as_deref().map(String::as_str);
        let key_der = files::private_key(&key_text, &key_origin, password)?;
        let (chain, chain_origin) = match certificate {
            Some(certificate) => {
                let text = certificate.value.read(certificate.property)?;
                let origin = certificate.value.origin(certificate.property);
                let chain = files::certificates(&text, &origin)?;
                if chain.is_empty() {
                    return Err(config_error(format!(
                        "{}: {} holds no certificate (-----BEGIN CERTIFICATE-----)",
                        origin.property,
                        origin.what()
                    )));
                }
                (chain, origin.describe())
            }
            None => {
                let chain = files::certificates(&key_text, &key_origin)?;
                if chain.is_empty() {
                    return Err(config_error(format!(
                        "{} is set but ssl.certificate.location is not (and {} holds no certificate): set \
                         ssl.certificate.location (or ssl.certificate.pem) to the client certificate",
                        key.property,
                        key_origin.what()
                    )));
                }
                (chain, key_origin.describe())
            }
        };
        Ok(Some(Identity {
            chain,
            key: key_der,
            origin: IdentityOrigin {
                key_property: key.property,
                key_origin: key_origin.describe(),
                chain_origin,
            },
        }))
    }
}

/// A loaded client certificate and key, with where they came from for errors.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    origin: IdentityOrigin,
}

struct IdentityOrigin {
    key_property: &'static str,
    key_origin: String,
    chain_origin: String,
}

impl IdentityOrigin {
    /// Why rustls refused the pair.
    fn explain(&self, error: &rustls::Error) -> Error {
        let Self {
            key_property,
            key_origin,
            chain_origin,
        } = self;
        config_error(match error {
            rustls::Error::InconsistentKeys(_) => format!(
                "{key_property}: the private key in {key_origin} does not belong to the client \
                 certificate in {chain_origin}: set the key that was used to create that certificate"
            ),
            rustls::Error::InvalidCertificate(e) => {
                format!("the client certificate in {chain_origin} cannot be parsed: {e:?}")
            }
            e => format!(
                "{key_property}: the private key in {key_origin} cannot be used with the {} crypto \
                 provider ({e}): use an RSA (2048 bits or more), ECDSA P-256/P-384 or Ed25519 key",
                crypto_provider_name()
            ),
        })
    }
}

impl Source {
    /// The PEM text: the file's bytes or the inline value.
    fn read(&self, property: &'static str) -> Result<Zeroizing<Vec<u8>>, Error> {
        match self {
            Self::File(path) => files::read(property, path),
            Self::Pem(text) => Ok(Zeroizing::new(text.as_bytes().to_vec())),
        }
    }

    fn origin(&self, property: &'static str) -> Origin<'_> {
        match self {
            Self::File(path) => Origin::file(property, path),
            Self::Pem(_) => Origin::inline(property),
        }
    }
}

/// Stores `value` in `slot`, refusing a second property for the same thing (`ssl.key.location` and
/// `ssl.key.pem`, say): which one should win is not obvious, so the user chooses. Empty unsets.
fn set_slot<T>(
    slot: &mut Option<Sourced<T>>,
    property: &'static str,
    raw: &str,
    value: T,
) -> Result<(), Error> {
    if let Some(existing) = slot
        && existing.property != property
    {
        if raw.is_empty() {
            return Ok(());
        }
        return Err(config_error(format!(
            "{property}: {} is also set and names the same thing: set only one of them",
            existing.property
        )));
    }
    *slot = (!raw.is_empty()).then_some(Sourced { property, value });
    Ok(())
}

/// The `'static` spelling of a property name we handle, for errors built later.
fn static_name(key: &str) -> &'static str {
    const NAMES: &[&str] = &[
        "ssl.ca.location",
        "ssl.truststore.location",
        "ssl.ca.pem",
        "ssl.truststore.certificates",
        "ssl.certificate.location",
        "ssl.certificate.pem",
        "ssl.keystore.certificate.chain",
        "ssl.key.location",
        "ssl.key.pem",
        "ssl.keystore.key",
        "ssl.keystore.location",
    ];
    NAMES.iter().find(|n| **n == key).copied().unwrap_or("ssl.*")
}

fn unsupported(key: &str, why: &str) -> Error {
    config_error(format!("{key} is not supported: {why}"))
}

fn parse_bool(key: &str, value: &str) -> Result<bool, Error> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(config_error(format!(
            "{key}: \"{value}\" is not a boolean: use true or false"
        ))),
    }
}

/// `ssl.truststore.type` / `ssl.keystore.type`: only PEM, with the commands that convert the others.
fn check_store_type(key: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() || value.eq_ignore_ascii_case("PEM") {
        return Ok(());
    }
    let how = if key == "ssl.truststore.type" {
        "export the CA certificates to PEM (keytool -exportcert -rfc -keystore truststore.jks -alias \
         <alias> -file ca.pem; for PKCS12: openssl pkcs12 -in truststore.p12 -nokeys -out ca.pem) and \
         set ssl.truststore.type=PEM with ssl.truststore.location=ca.pem (or ssl.ca.location)"
    } else {
        "convert the keystore to PEM (for JKS first: keytool -importkeystore -srckeystore keystore.jks \
         -destkeystore keystore.p12 -deststoretype PKCS12; then: openssl pkcs12 -in keystore.p12 -out \
         keystore.pem, adding -legacy for old RC2/3DES files) and set ssl.keystore.type=PEM, \
         ssl.keystore.location=keystore.pem and ssl.key.password to the PEM pass phrase"
    };
    Err(config_error(format!(
        "{key}={value} is not supported: kafkaroo reads PEM only: {how}"
    )))
}

/// `ssl.enabled.protocols`: TLS versions older than 1.2 are skipped (rustls cannot speak them, and a
/// Java list commonly names them); a list with neither TLSv1.2 nor TLSv1.3 is an error.
fn parse_protocols(key: &str, value: &str) -> Result<Option<(bool, bool)>, Error> {
    if value.is_empty() {
        return Ok(None);
    }
    let (mut tls12, mut tls13) = (false, false);
    for name in value.split([',', ' ', ':']).filter(|s| !s.is_empty()) {
        match name.to_ascii_uppercase().as_str() {
            "TLSV1.2" => tls12 = true,
            "TLSV1.3" => tls13 = true,
            "TLSV1" | "TLSV1.0" | "TLSV1.1" | "SSLV3" | "SSLV2HELLO" => {}
            _ => {
                return Err(config_error(format!(
                    "{key}: unknown protocol \"{name}\": use TLSv1.2 and/or TLSv1.3"
                )));
            }
        }
    }
    if !tls12 && !tls13 {
        return Err(config_error(format!(
            "{key}={value} enables no TLS version kafkaroo speaks: rustls supports TLSv1.2 and TLSv1.3 only"
        )));
    }
    Ok(Some((tls12, tls13)))
}

/// `ssl.cipher.suites`: names in IANA (Java), rustls or OpenSSL spelling, separated by commas, colons
/// or spaces, in order of preference. A name the provider does not implement, or an OpenSSL cipher-list
/// keyword (`HIGH`, `!aNULL`), is an error rather than silently ignored: a user restricting suites
/// expects exactly those.
fn parse_cipher_suites(key: &str, value: &str) -> Result<Option<Vec<SupportedCipherSuite>>, Error> {
    if value.is_empty() {
        return Ok(None);
    }
    if !PROVIDER_COMPILED_IN {
        return Err(no_provider());
    }
    let provider = crypto_provider();
    let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
    for name in value.split([',', ':', ' ']).filter(|s| !s.is_empty()) {
        let Some(suite) = provider.cipher_suites.iter().find(|s| suite_matches(s, name)) else {
            let why = if name.starts_with(['!', '-', '+', '@'])
                || name.chars().all(|c| c.is_ascii_alphanumeric())
            {
                "is an OpenSSL cipher-list keyword, which rustls does not interpret: name suites instead"
            } else {
                "is not implemented (rustls offers only AEAD suites with forward secrecy)"
            };
            let names: Vec<String> = provider.cipher_suites.iter().map(iana_name).collect();
            return Err(config_error(format!(
                "{key}: \"{name}\" {why}; the {} provider supports {}",
                crypto_provider_name(),
                names.join(", ")
            )));
        };
        if !chosen.iter().any(|c| c.suite() == suite.suite()) {
            chosen.push(*suite);
        }
    }
    Ok(Some(chosen))
}

/// The IANA name (`TLS_AES_128_GCM_SHA256`); rustls spells TLS 1.3 names `TLS13_...`.
fn iana_name(suite: &SupportedCipherSuite) -> String {
    let name = suite
        .suite()
        .as_str()
        .map_or_else(|| format!("{:?}", suite.suite()), str::to_owned);
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

fn suite_matches(suite: &SupportedCipherSuite, name: &str) -> bool {
    /// OpenSSL's names for the TLS 1.2 suites rustls implements (its TLS 1.3 names are IANA's).
    const OPENSSL: &[(&str, &str)] = &[
        (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ),
        (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ),
        (
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ),
        (
            "ECDHE-RSA-AES128-GCM-SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ),
        (
            "ECDHE-RSA-AES256-GCM-SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ),
        (
            "ECDHE-RSA-CHACHA20-POLY1305",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ),
    ];
    let name = name.to_ascii_uppercase();
    let iana = iana_name(suite);
    let rustls_name = suite.suite().as_str().unwrap_or_default();
    name == iana
        || name == rustls_name
        || OPENSSL
            .iter()
            .any(|(openssl, standard)| name == *openssl && iana == *standard)
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Text shown without the quotes `Debug` of a `String` adds.
        struct Raw(String);
        impl fmt::Debug for Raw {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        /// A source by name only: a path, or the size of inline PEM.
        struct Shown<'a>(&'a Source, &'static str);
        impl fmt::Debug for Shown<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.0 {
                    Source::File(path) => write!(f, "{}={path:?}", self.1),
                    Source::Pem(text) => write!(f, "{}=<{} bytes of PEM>", self.1, text.len()),
                }
            }
        }
        let ca = self.ca_location.as_ref().map(|c| match &c.value {
            CaLocation::Probe => Raw(format!("{}=probe", c.property)),
            CaLocation::Path(path) => Raw(format!("{}={path:?}", c.property)),
        });
        let ca_pem = self
            .ca_pem
            .as_ref()
            .map(|c| Raw(format!("{}=<{} bytes of PEM>", c.property, c.value.len())));
        let suites = self
            .cipher_suites
            .as_ref()
            .map(|s| s.iter().map(iana_name).collect::<Vec<_>>());
        f.debug_struct("TlsOptions")
            .field("ca_location", &ca)
            .field("ca_pem", &ca_pem)
            .field("crl_location", &self.crl_location)
            .field(
                "certificate",
                &self.certificate.as_ref().map(|c| Shown(&c.value, c.property)),
            )
            .field("key", &self.key.as_ref().map(|k| Shown(&k.value, k.property)))
            .field("key_password", &self.key_password.as_ref().map(|_| "<set>"))
            .field("skip_hostname_verification", &self.skip_hostname_verification)
            .field("skip_verification", &self.skip_verification)
            .field(
                "versions",
                &self
                    .versions()
                    .ok()
                    .map(|v| v.iter().map(|v| v.version).collect::<Vec<_>>()),
            )
            .field("cipher_suites", &suites)
            .field(
                "custom_config",
                &self.custom.as_ref().map(|_| "<application's ClientConfig>"),
            )
            .finish()
    }
}

/// Whether a crypto provider is compiled in. Without one (all provider features off: a PLAINTEXT-only
/// build) the crate still builds, and asking for TLS is a configuration error naming the features.
const PROVIDER_COMPILED_IN: bool = cfg!(any(feature = "graviola", feature = "ring", feature = "aws-lc-rs"));

/// The configuration error of a build without a crypto provider.
fn no_provider() -> Error {
    Error::Config(
        "TLS is not compiled in: enable kafkaroo's `tls-graviola` feature (the default; or `tls-ring`, \
         `tls-aws-lc-rs`), or kafkaroo-net's `graviola`/`ring`/`aws-lc-rs`"
            .to_owned(),
    )
}

/// Without a provider feature: see [`PROVIDER_COMPILED_IN`].
///
/// # Panics
/// Always: no provider is compiled in (the TLS settings report that as a configuration error first).
#[cfg(not(any(feature = "graviola", feature = "ring", feature = "aws-lc-rs")))]
pub fn crypto_provider() -> Arc<CryptoProvider> {
    panic!("{}", no_provider())
}

/// The crypto provider compiled in: graviola if the `graviola` feature is on (pure Rust and assembly,
/// no C compiler; x86_64 and aarch64), else ring, else aws-lc-rs. Built once and shared.
#[cfg(any(feature = "graviola", feature = "ring", feature = "aws-lc-rs"))]
pub fn crypto_provider() -> Arc<CryptoProvider> {
    use std::sync::OnceLock;
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            #[cfg(feature = "graviola")]
            let provider = rustls_graviola::default_provider();
            // rustls deprecates its ring provider for lacking post-quantum key exchange; it stays an
            // opt-in fallback for targets graviola does not support.
            #[cfg(all(not(feature = "graviola"), feature = "ring"))]
            #[allow(deprecated)]
            let provider = rustls::crypto::ring::default_provider();
            #[cfg(all(not(feature = "graviola"), not(feature = "ring"), feature = "aws-lc-rs"))]
            let provider = rustls::crypto::aws_lc_rs::default_provider();
            Arc::new(provider)
        })
        .clone()
}

/// The name of [`crypto_provider`]'s implementation, for logs and errors.
pub fn crypto_provider_name() -> &'static str {
    if cfg!(feature = "graviola") {
        "graviola"
    } else if cfg!(feature = "ring") {
        "ring"
    } else if cfg!(feature = "aws-lc-rs") {
        "aws-lc-rs"
    } else {
        "none"
    }
}

/// Turns a rustls handshake failure into a sentence that names the cause and what to change.
/// `server_name` is the name the connection verified against (the broker host).
pub fn explain_tls_error(error: &rustls::Error, server_name: &str) -> String {
    use rustls::{AlertDescription as Alert, CertificateError as Cert, Error as E};
    let cert = |what: &str| format!("the broker's certificate (for {server_name}) {what}");
    match error {
        E::InvalidCertificate(e) => match e {
            Cert::UnknownIssuer => {
                cert("is not signed by a trusted CA: set ssl.ca.location to the CA that signed it")
            }
            Cert::NotValidForName => format!(
                "the broker's certificate is not valid for {server_name} (hostname verification): connect \
                 by a name in its subjectAltName, or set ssl.endpoint.identification.algorithm=none"
            ),
            Cert::NotValidForNameContext { presented, .. } => format!(
                "the broker's certificate is not valid for {server_name} (hostname verification; it is \
                 valid for {}): connect by a name in its subjectAltName, or set \
                 ssl.endpoint.identification.algorithm=none",
                presented
                    .iter()
                    .map(|n| presented_name(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Cert::Expired => cert("has expired: renew it on the broker (or check this machine's clock)"),
            Cert::ExpiredContext { time, not_after } => cert(&format!(
                "expired on {} (it is now {}): renew it on the broker (or check this machine's clock)",
                utc(not_after.as_secs()),
                utc(time.as_secs())
            )),
            Cert::NotValidYet => cert("is not valid yet: check this machine's clock"),
            Cert::NotValidYetContext { time, not_before } => cert(&format!(
                "is not valid before {} (it is now {}): check this machine's clock",
                utc(not_before.as_secs()),
                utc(time.as_secs())
            )),
            Cert::Revoked => cert("has been revoked (per the CRL in ssl.crl.location)"),
            Cert::UnknownRevocationStatus => cert(
                "has no revocation status: no CRL in ssl.crl.location covers its issuer; add that CA's CRL",
            ),
            Cert::InvalidPurpose | Cert::InvalidPurposeContext { .. } => {
                cert("is not for TLS servers (its extended key usage lacks serverAuth): reissue it")
            }
            Cert::BadSignature => cert("has a bad signature: it was not signed by the CA it names"),
            Cert::UnsupportedSignatureAlgorithmContext { .. }
            | Cert::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => cert(&format!(
                "is signed with an algorithm the {} provider does not support ({e:?})",
                crypto_provider_name()
            )),
            other => cert(&format!("was rejected: {other:?}")),
        },
        E::AlertReceived(alert) => match alert {
            Alert::CertificateRequired
            | Alert::HandshakeFailure
            | Alert::BadCertificate
            | Alert::NoCertificate
            | Alert::UnknownCA
            | Alert::CertificateUnknown
            | Alert::UnsupportedCertificate
            | Alert::CertificateExpired
            | Alert::CertificateRevoked
            | Alert::AccessDenied => format!(
                "the broker {server_name} refused the TLS handshake (alert {alert:?}): it may require a \
                 client certificate, or not accept ours: set ssl.certificate.location and \
                 ssl.key.location to a certificate signed by a CA the broker trusts"
            ),
            Alert::ProtocolVersion => format!(
                "the broker {server_name} refused the TLS handshake (alert ProtocolVersion): no TLS version \
                 in common: check ssl.enabled.protocols and the broker's"
            ),
            other => format!("the broker {server_name} ended the TLS handshake with alert {other:?}"),
        },
        E::InvalidMessage(_) | E::InappropriateHandshakeMessage { .. } | E::InappropriateMessage { .. } => {
            format!(
                "the peer {server_name} did not speak TLS ({error}): is this a PLAINTEXT listener? set \
                 security.protocol=PLAINTEXT or SASL_PLAINTEXT, or use the broker's SSL port"
            )
        }
        E::PeerIncompatible(why) => format!(
            "the broker {server_name} and this client have no TLS parameters in common ({why:?}): check \
             ssl.enabled.protocols and ssl.cipher.suites against the broker's"
        ),
        E::NoCertificatesPresented => {
            format!("the broker {server_name} sent no certificate: is its listener set up for TLS?")
        }
        other => format!("TLS with {server_name} failed: {other}"),
    }
}

/// [`explain_tls_error`] for the I/O errors tokio-rustls returns: the rustls error inside when there is
/// one, and the peer closing during the handshake, which is what a Kafka PLAINTEXT listener does with a
/// ClientHello (it reads it as an oversized request).
pub fn explain_tls_io_error(error: &std::io::Error, server_name: &str) -> String {
    if let Some(tls) = error.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        return explain_tls_error(tls, server_name);
    }
    match error.kind() {
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => format!(
            "{server_name} closed the connection during the TLS handshake: is this a PLAINTEXT listener? \
             set security.protocol=PLAINTEXT or SASL_PLAINTEXT, or use the broker's SSL port ({error})"
        ),
        _ => format!("TLS with {server_name} failed: {error}"),
    }
}

/// `broker.example.com` from rustls's `DnsName("broker.example.com")` (and `IpAddress(10.0.0.1)`).
fn presented_name(name: &str) -> &str {
    name.strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| name.strip_prefix("IpAddress(").and_then(|n| n.strip_suffix(')')))
        .unwrap_or(name)
}

/// `YYYY-MM-DD hh:mm:ss UTC` from Unix seconds (Howard Hinnant's civil-from-days), for expiry messages.
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
