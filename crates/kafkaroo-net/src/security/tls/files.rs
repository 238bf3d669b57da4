//! Reading the PEM files and text the `ssl.*` properties name. Every error names the property and the
//! file and says what to change; none quotes the file's contents, which may be a private key.

use std::path::Path;

use pkcs8::der::zeroize::Zeroizing;
use rustls::RootCertStore;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::Error;

pub(super) fn config_error(message: impl Into<String>) -> Error {
    Error::Config(message.into())
}

/// Which property some PEM came from, and the file when it was one.
pub(super) struct Origin<'a> {
    pub(super) property: &'static str,
    path: Option<&'a Path>,
}

impl<'a> Origin<'a> {
    pub(super) fn file(property: &'static str, path: &'a Path) -> Self {
        Self {
            property,
            path: Some(path),
        }
    }

    pub(super) fn inline(property: &'static str) -> Self {
        Self { property, path: None }
    }

    /// `"/k.pem"`, or `the PEM text` for an inline value.
    pub(super) fn what(&self) -> String {
        match self.path {
            Some(path) => format!("{:?}", path.display().to_string()),
            None => "the PEM text".to_owned(),
        }
    }

    /// `"/k.pem" (ssl.key.location)`, for messages that name another property first.
    pub(super) fn describe(&self) -> String {
        match self.path {
            Some(_) => format!("{} ({})", self.what(), self.property),
            None => format!("the PEM text of {}", self.property),
        }
    }
}

/// The io error's text without the `(os error 2)` suffix, which says nothing to a user.
fn io_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

/// A file's bytes, zeroed on drop since it may be a private key.
pub(super) fn read(property: &str, path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    std::fs::read(path).map(Zeroizing::new).map_err(|e| {
        config_error(format!(
            "{property}: cannot read {:?}: {}",
            path.display().to_string(),
            io_text(&e)
        ))
    })
}

/// What to say when a file holds no PEM: it is probably DER, PKCS#12 or JKS.
fn not_pem_hint(bytes: &[u8]) -> &'static str {
    let binary = std::str::from_utf8(bytes).is_err() || bytes.first() == Some(&0x30);
    if !binary {
        ""
    } else if bytes.starts_with(&[0xfe, 0xed, 0xfe, 0xed]) {
        " (it is a JKS keystore: kafkaroo reads PEM only; export it with keytool -exportcert -rfc, or \
         keytool -importkeystore to PKCS12 and then openssl pkcs12 -out file.pem)"
    } else {
        " (it looks binary: DER or PKCS#12, and kafkaroo reads PEM only: convert a DER certificate with \
         openssl x509 -inform der -in file.der -out file.pem, a PKCS#12 store with openssl pkcs12 -in \
         file.p12 -out file.pem)"
    }
}

fn pem_error(origin: &Origin<'_>, error: &pem::Error) -> Error {
    // pem::Error's texts can quote a line of the file; only its kind is said here.
    let what = match error {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no -----END line",
        pem::Error::IllegalSectionStart { .. } => "a -----BEGIN line is malformed",
        pem::Error::Base64Decode(_) => {
            "a PEM section is not valid base64 (an OpenSSL-encrypted key with Proc-Type headers, or a \
             damaged file?)"
        }
        pem::Error::Io(_) => "it cannot be read",
        _ => "it is not valid PEM",
    };
    config_error(format!(
        "{}: {} is not valid PEM: {what}",
        origin.property,
        origin.what()
    ))
}

/// The certificates (`-----BEGIN CERTIFICATE-----`) in `pem`, in order; other sections are skipped.
pub(super) fn certificates(pem: &[u8], origin: &Origin<'_>) -> Result<Vec<CertificateDer<'static>>, Error> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(origin, &e))
}

/// Adds certificates as trust anchors; a certificate that cannot be one is an error naming it.
pub(super) fn add_roots(
    roots: &mut RootCertStore,
    certs: Vec<CertificateDer<'static>>,
    origin: &Origin<'_>,
) -> Result<(), Error> {
    for (index, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            config_error(format!(
                "{}: certificate #{} in {} cannot be used as a CA: {e}",
                origin.property,
                index + 1,
                origin.what()
            ))
        })?;
    }
    Ok(())
}

/// `ssl.ca.location`: a PEM file, or a directory whose `*.pem` and `*.crt` files are all read (like
/// OpenSSL's CApath, but without needing `c_rehash` links). Files there without a certificate (keys,
/// say) are skipped; a directory without any certificate is an error.
pub(super) fn add_ca_location(
    roots: &mut RootCertStore,
    property: &'static str,
    path: &Path,
) -> Result<(), Error> {
    let shown = path.display().to_string();
    let metadata = std::fs::metadata(path)
        .map_err(|e| config_error(format!("{property}: cannot read {shown:?}: {}", io_text(&e))))?;
    if !metadata.is_dir() {
        let bytes = read(property, path)?;
        let origin = Origin::file(property, path);
        let certs = certificates(&bytes, &origin)?;
        if certs.is_empty() {
            return Err(config_error(format!(
                "{property}: {shown:?} holds no PEM certificate (-----BEGIN CERTIFICATE-----){}",
                not_pem_hint(&bytes)
            )));
        }
        return add_roots(roots, certs, &origin);
    }
    let entries = std::fs::read_dir(path)
        .map_err(|e| config_error(format!("{property}: cannot list {shown:?}: {}", io_text(&e))))?;
    let mut files: Vec<_> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|file| {
            file.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("pem") || e.eq_ignore_ascii_case("crt"))
                && file.is_file()
        })
        .collect();
    files.sort();
    let before = roots.len();
    for file in &files {
        let bytes = read(property, file)?;
        let origin = Origin::file(property, file);
        let certs = certificates(&bytes, &origin)?;
        add_roots(roots, certs, &origin)?;
    }
    if roots.len() == before {
        return Err(config_error(format!(
            "{property}: the directory {shown:?} holds no certificate ({} *.pem or *.crt files, none with \
             -----BEGIN CERTIFICATE-----): point it at the CA file or a directory of PEM CA files",
            files.len()
        )));
    }
    Ok(())
}

/// The system store (rustls-native-certs: the OS store, or `SSL_CERT_FILE`/`SSL_CERT_DIR`).
/// `property` is `Some` when asked for by `ssl.ca.location=probe`.
pub(super) fn add_system_roots(roots: &mut RootCertStore, property: Option<&str>) -> Result<(), Error> {
    let found = rustls_native_certs::load_native_certs();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 || !found.errors.is_empty() {
        tracing::debug!(
            added,
            ignored,
            errors = ?found.errors,
            "system CA store partly unusable"
        );
    }
    if added == 0 {
        let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        let asked = property.map_or_else(
            || "no ssl.ca.location is set, and".to_owned(),
            |p| format!("{p}=probe:"),
        );
        return Err(config_error(format!(
            "{asked} the system certificate store yielded no usable CA certificate{}: set \
             ssl.ca.location to the CA file that signed the brokers' certificates",
            if errors.is_empty() {
                String::new()
            } else {
                format!(" ({})", errors.join("; "))
            }
        )));
    }
    Ok(())
}

/// `ssl.crl.location`: one or more PEM CRLs (`-----BEGIN X509 CRL-----`).
pub(super) fn crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, Error> {
    const PROPERTY: &str = "ssl.crl.location";
    let bytes = read(PROPERTY, path)?;
    let origin = Origin::file(PROPERTY, path);
    let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(&origin, &e))?;
    if crls.is_empty() {
        return Err(config_error(format!(
            "{PROPERTY}: {} holds no PEM CRL (-----BEGIN X509 CRL-----){}",
            origin.what(),
            if not_pem_hint(&bytes).is_empty() {
                ""
            } else {
                " (convert a DER CRL with openssl crl -inform der -in file.crl -out file.pem)"
            }
        )));
    }
    Ok(crls)
}

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The one private key in `pem`: PKCS#8, PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`), or
/// encrypted PKCS#8 (PBES2: PBKDF2 or scrypt with AES), decrypted with `password`.
pub(super) fn private_key(
    pem: &[u8],
    origin: &Origin<'_>,
    password: Option<&str>,
) -> Result<PrivateKeyDer<'static>, Error> {
    let (property, what) = (origin.property, origin.what());
    // OpenSSL's legacy encryption (Proc-Type/DEK-Info headers inside RSA/EC PRIVATE KEY) is MD5-based
    // key derivation; pkcs8 does not implement it, so say how to convert.
    if contains(pem, b"Proc-Type: 4,ENCRYPTED") {
        return Err(config_error(format!(
            "{property}: {what} holds a key encrypted in OpenSSL's legacy PEM format (Proc-Type header), \
             which kafkaroo cannot decrypt: convert it to encrypted PKCS#8 with openssl pkcs8 -topk8 -v2 \
             aes-256-cbc -in old.pem -out new.pem, and use new.pem"
        )));
    }
    let mut plain = PrivateKeyDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(origin, &e))?;
    let encrypted = encrypted_sections(pem, origin)?;
    match plain.len() + encrypted.len() {
        0 if property == "ssl.keystore.location" && !not_pem_hint(pem).is_empty() => {
            return Err(config_error(format!(
                "{property}: {what} is not a PEM keystore (PKCS#12?): kafkaroo reads PEM only: convert it \
                 with openssl pkcs12 -in {} -out keystore.pem (add -legacy for old RC2/3DES files), then \
                 set ssl.keystore.location=keystore.pem and ssl.key.password to the PEM pass phrase",
                origin
                    .path
                    .map_or_else(|| "keystore.p12".to_owned(), |p| p.display().to_string())
            )));
        }
        0 => {
            return Err(config_error(format!(
                "{property}: {what} holds no private key (expected -----BEGIN PRIVATE KEY-----, RSA \
                 PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY){}",
                not_pem_hint(pem)
            )));
        }
        1 => {}
        n => {
            return Err(config_error(format!(
                "{property}: {what} holds {n} private keys: keep only the client certificate's key"
            )));
        }
    }
    if let Some(key) = plain.pop() {
        return Ok(key);
    }
    let Some(password) = password else {
        return Err(config_error(format!(
            "{property}: {what} holds an encrypted private key: set ssl.key.password"
        )));
    };
    decrypt(&encrypted[0], password, origin)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The DER of each `ENCRYPTED PRIVATE KEY` section (rustls-pki-types skips that label).
fn encrypted_sections(pem: &[u8], origin: &Origin<'_>) -> Result<Vec<Vec<u8>>, Error> {
    let Ok(text) = std::str::from_utf8(pem) else {
        return Ok(Vec::new());
    };
    let mut sections = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(ENCRYPTED_BEGIN) {
        let body = &rest[start + ENCRYPTED_BEGIN.len()..];
        let Some(end) = body.find(ENCRYPTED_END) else {
            return Err(config_error(format!(
                "{}: {} is not valid PEM: the ENCRYPTED PRIVATE KEY section has no -----END line",
                origin.property,
                origin.what()
            )));
        };
        // Re-wrap the base64 at 64 columns: the RFC 7468 decoder is strict, files are not always.
        let base64: String = body[..end].chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let mut normalised = String::with_capacity(base64.len() + 128);
        normalised.push_str(ENCRYPTED_BEGIN);
        normalised.push('\n');
        for line in base64.as_bytes().chunks(64) {
            normalised.push_str(std::str::from_utf8(line).unwrap_or_default());
            normalised.push('\n');
        }
        normalised.push_str(ENCRYPTED_END);
        normalised.push('\n');
        let (_, der) = pkcs8::der::pem::decode_vec(normalised.as_bytes()).map_err(|_| {
            config_error(format!(
                "{}: {} is not valid PEM: the ENCRYPTED PRIVATE KEY section is not valid base64",
                origin.property,
                origin.what()
            ))
        })?;
        sections.push(der);
        rest = &body[end + ENCRYPTED_END.len()..];
    }
    Ok(sections)
}

/// The schemes the pkcs8 crate decrypts with the features this crate enables.
const SUPPORTED: &str = "kafkaroo supports PBES2 with PBKDF2-HMAC-SHA224/256/384/512 or scrypt, and AES";

/// Decrypts an `EncryptedPrivateKeyInfo`. A padding or DER failure after decryption means the
/// password is wrong (PBES2 has no separate password check).
fn decrypt(der: &[u8], password: &str, origin: &Origin<'_>) -> Result<PrivateKeyDer<'static>, Error> {
    let (property, what) = (origin.property, origin.what());
    let reencrypt = "re-encrypt it with openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out new.pem";
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der).map_err(|_| {
        // pkcs5 refuses to parse schemes it does not implement (PBES1, 3DES), so this is either.
        config_error(format!(
            "{property}: the ENCRYPTED PRIVATE KEY in {what} cannot be read: it is damaged or uses an \
             encryption scheme kafkaroo does not implement ({SUPPORTED}): {reencrypt}"
        ))
    })?;
    match info.decrypt(password.as_bytes()) {
        // A wrong password can, rarely, decrypt to valid padding and a DER header: parse it fully.
        Ok(document) if pkcs8::PrivateKeyInfoRef::try_from(document.as_bytes()).is_ok() => Ok(
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(document.as_bytes().to_vec())),
        ),
        Ok(_)
        | Err(pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed))
        | Err(pkcs8::Error::Asn1(_)) => Err(config_error(format!(
            "ssl.key.password is wrong for the encrypted key in {}",
            origin.describe()
        ))),
        Err(pkcs8::Error::EncryptedPrivateKey(
            pkcs8::pkcs5::Error::UnsupportedAlgorithm { oid }
            | pkcs8::pkcs5::Error::AlgorithmParametersInvalid { oid },
        )) => Err(config_error(format!(
            "{property}: the key in {what} is encrypted with an algorithm kafkaroo cannot decrypt ({}; \
             {SUPPORTED}): {reencrypt}",
            match oid.to_string().as_str() {
                "1.2.840.113549.2.7" => "PBKDF2 with HMAC-SHA1, OpenSSL 1.0's default".to_owned(),
                other => format!("OID {other}"),
            }
        ))),
        Err(pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::NoPbes1CryptSupport)) => {
            Err(config_error(format!(
                "{property}: the key in {what} uses legacy PBES1 encryption, which kafkaroo cannot \
                 decrypt: {reencrypt}"
            )))
        }
        Err(e) => Err(config_error(format!(
            "{property}: the encrypted key in {what} cannot be decrypted ({e}): {reencrypt}"
        ))),
    }
}
