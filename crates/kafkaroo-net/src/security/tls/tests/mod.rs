//! Keys and certificates are made at test time with the `openssl` CLI (so each format is the one
//! OpenSSL really writes), then loaded through `TlsOptions` and used in real handshakes on loopback.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

const PASSWORD: &str = "correct-horse-battery";

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("kafkaroo-tls-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temp dir");
        Self(path)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write a fixture");
        path
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the openssl CLI in `dir`; a missing binary fails the test with what to install.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("these tests need the openssl CLI on PATH (apt-get install openssl): {e}")
        });
    assert!(
        output.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The PEM text of every fixture, made once per test process.
struct Fixtures {
    ca: String,
    other_ca: String,
    server_cert: String,
    /// A certificate for broker.example.com only.
    server_other_name_cert: String,
    server_key: String,
    /// Server certificate and key signed by the untrusted CA.
    rogue_cert: String,
    client_cert: String,
    client_key_pkcs8: String,
    client_key_sec1: String,
    client_key_encrypted: String,
    client_rsa_cert: String,
    client_rsa_key_pkcs1: String,
    client_rsa_key_legacy_encrypted: String,
    client_p12: Vec<u8>,
    /// A CRL that revokes `server_cert`, and one that revokes nothing.
    crl_revoking_server: String,
    crl_empty: String,
    /// For the measurements: an RSA-2048 server certificate and key.
    server_rsa_cert: String,
    server_rsa_key: String,
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(make_fixtures)
}

fn make_fixtures() -> Fixtures {
    let tmp = TempDir::new("fixtures");
    let dir = tmp.0.as_path();
    let ec_key = |name: &str| {
        openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                name,
            ],
        );
    };
    let rsa_key = |name: &str| {
        openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                name,
            ],
        );
    };
    let ca = |name: &str, cn: &str| {
        ec_key(&format!("{name}.key"));
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-subj",
                &format!("/CN={cn}"),
                "-days",
                "2",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-out",
                &format!("{name}.pem"),
            ],
        );
    };
    let leaf = |name: &str, key: &str, ca: &str, serial: &str, ext: &str| {
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!("basicConstraints=CA:FALSE\n{ext}\n"),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-key",
                key,
                "-subj",
                &format!("/CN={name}"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-set_serial",
                serial,
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ],
        );
    };
    let server_ext = "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth";
    let client_ext = "extendedKeyUsage=clientAuth";

    ca("ca", "kafkaroo-test-ca");
    ca("other-ca", "kafkaroo-untrusted-ca");
    ec_key("server.key");
    leaf("server", "server.key", "ca", "2", server_ext);
    leaf(
        "other-name",
        "server.key",
        "ca",
        "3",
        "subjectAltName=DNS:broker.example.com\nextendedKeyUsage=serverAuth",
    );
    leaf("rogue", "server.key", "other-ca", "4", server_ext);
    ec_key("client.key");
    leaf("client", "client.key", "ca", "5", client_ext);
    openssl(dir, &["ec", "-in", "client.key", "-out", "client-sec1.key"]);
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            "client.key",
            "-passout",
            &format!("pass:{PASSWORD}"),
            "-out",
            "client-enc.key",
        ],
    );
    rsa_key("client-rsa.key");
    leaf("client-rsa", "client-rsa.key", "ca", "6", client_ext);
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "client-rsa.key",
            "-traditional",
            "-out",
            "client-rsa-pkcs1.key",
        ],
    );
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "client-rsa.key",
            "-traditional",
            "-aes256",
            "-passout",
            &format!("pass:{PASSWORD}"),
            "-out",
            "client-rsa-legacy.key",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs12",
            "-export",
            "-in",
            "client.pem",
            "-inkey",
            "client.key",
            "-passout",
            "pass:store",
            "-out",
            "client.p12",
        ],
    );
    rsa_key("server-rsa.key");
    leaf("server-rsa", "server-rsa.key", "ca", "7", server_ext);
    // CRLs need `openssl ca` and its database.
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\n\
         default_crl_days = 2\n",
    )
    .unwrap();
    let ca_args = ["-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem"];
    openssl(
        dir,
        &[&["ca", "-gencrl", "-out", "crl-empty.pem"], &ca_args[..]].concat(),
    );
    openssl(dir, &[&["ca", "-revoke", "server.pem"], &ca_args[..]].concat());
    openssl(
        dir,
        &[&["ca", "-gencrl", "-out", "crl.pem"], &ca_args[..]].concat(),
    );

    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    Fixtures {
        ca: read("ca.pem"),
        other_ca: read("other-ca.pem"),
        server_cert: read("server.pem"),
        server_other_name_cert: read("other-name.pem"),
        server_key: read("server.key"),
        rogue_cert: read("rogue.pem"),
        client_cert: read("client.pem"),
        client_key_pkcs8: read("client.key"),
        client_key_sec1: read("client-sec1.key"),
        client_key_encrypted: read("client-enc.key"),
        client_rsa_cert: read("client-rsa.pem"),
        client_rsa_key_pkcs1: read("client-rsa-pkcs1.key"),
        client_rsa_key_legacy_encrypted: read("client-rsa-legacy.key"),
        client_p12: std::fs::read(dir.join("client.p12")).unwrap(),
        crl_revoking_server: read("crl.pem"),
        crl_empty: read("crl-empty.pem"),
        server_rsa_cert: read("server-rsa.pem"),
        server_rsa_key: read("server-rsa.key"),
    }
}

fn options(pairs: &[(&str, &str)]) -> TlsOptions {
    let mut options = TlsOptions::default();
    for (key, value) in pairs {
        assert!(options.set(key, value).unwrap(), "{key} should be handled");
    }
    options
}

fn config_message(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::Config(message)) => message,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

fn build_error(pairs: &[(&str, &str)]) -> String {
    config_message(options(pairs).build())
}

fn set_error(key: &str, value: &str) -> String {
    config_message(TlsOptions::default().set(key, value))
}

// ---- loading keys and certificates ----

#[test]
fn every_key_format_loads() {
    let f = fixtures();
    let dir = TempDir::new("keys");
    let ca = dir.write("ca.pem", &f.ca);
    let cases = [
        ("pkcs8", &f.client_cert, &f.client_key_pkcs8, None),
        ("sec1", &f.client_cert, &f.client_key_sec1, None),
        (
            "encrypted pkcs8",
            &f.client_cert,
            &f.client_key_encrypted,
            Some(PASSWORD),
        ),
        ("pkcs1", &f.client_rsa_cert, &f.client_rsa_key_pkcs1, None),
    ];
    for (name, cert, key, password) in cases {
        let cert = dir.write(&format!("{name}.crt"), cert);
        let key = dir.write(&format!("{name}.key"), key);
        let mut opts = options(&[
            ("ssl.ca.location", ca.to_str().unwrap()),
            ("ssl.certificate.location", cert.to_str().unwrap()),
            ("ssl.key.location", key.to_str().unwrap()),
        ]);
        if let Some(password) = password {
            opts.set("ssl.key.password", password).unwrap();
        }
        let config = opts.build().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            config.client_auth_cert_resolver.has_certs(),
            "{name}: no client certificate"
        );
    }
    // The same with inline PEM, in both spellings.
    for (cert_key, key_key, ca_key) in [
        ("ssl.certificate.pem", "ssl.key.pem", "ssl.ca.pem"),
        (
            "ssl.keystore.certificate.chain",
            "ssl.keystore.key",
            "ssl.truststore.certificates",
        ),
    ] {
        let opts = options(&[
            (ca_key, &f.ca),
            (cert_key, &f.client_cert),
            (key_key, &f.client_key_encrypted),
            ("ssl.key.password", PASSWORD),
        ]);
        assert!(opts.build().unwrap().client_auth_cert_resolver.has_certs());
    }
}

#[test]
fn pem_keystore_holds_key_and_chain() {
    let f = fixtures();
    let dir = TempDir::new("keystore");
    let bundle = format!("{}{}{}", f.client_key_encrypted, f.client_cert, f.ca);
    let keystore = dir.write("keystore.pem", &bundle);
    let ca = dir.write("ca.pem", &f.ca);
    let keystore = keystore.to_str().unwrap();
    // Java's spelling, librdkafka's (PEM only), and a key file that also holds the chain.
    for pairs in [
        &[("ssl.keystore.type", "PEM"), ("ssl.keystore.location", keystore)][..],
        &[("ssl.keystore.location", keystore)][..],
        &[("ssl.key.location", keystore)][..],
    ] {
        let mut opts = options(pairs);
        opts.set("ssl.key.password", PASSWORD).unwrap();
        opts.set("ssl.truststore.location", ca.to_str().unwrap()).unwrap();
        assert!(
            opts.build().unwrap().client_auth_cert_resolver.has_certs(),
            "{pairs:?}"
        );
    }
}

#[test]
fn encrypted_key_errors_never_show_the_password() {
    let f = fixtures();
    let dir = TempDir::new("password");
    let ca = dir.write("ca.pem", &f.ca);
    let cert = dir.write("client.pem", &f.client_cert);
    let key = dir.write("client.key", &f.client_key_encrypted);
    let base = [
        ("ssl.ca.location", ca.to_str().unwrap()),
        ("ssl.certificate.location", cert.to_str().unwrap()),
        ("ssl.key.location", key.to_str().unwrap()),
    ];
    let missing = build_error(&base);
    assert_eq!(
        missing,
        format!(
            "ssl.key.location: {:?} holds an encrypted private key: set ssl.key.password",
            dir.path("client.key")
        )
    );
    let wrong = "not-the-password-1234";
    let message = build_error(&[&base[..], &[("ssl.key.password", wrong)]].concat());
    assert!(
        message.starts_with("ssl.key.password is wrong for the encrypted key in"),
        "{message}"
    );
    assert!(message.contains(&dir.path("client.key")), "{message}");
    assert!(!message.contains(wrong), "{message}");
    let mut opts = options(&base);
    opts.set("ssl.key.password", wrong).unwrap();
    opts.set("ssl.key.pem", "").unwrap();
    let debug = format!("{opts:?}");
    assert!(!debug.contains(wrong) && debug.contains("<set>"), "{debug}");
}

#[test]
fn encryption_schemes_openssl_writes() {
    let f = fixtures();
    let dir = TempDir::new("pbe");
    dir.write("key.pem", &f.client_key_pkcs8);
    let pass = format!("pass:{PASSWORD}");
    let cases: [(&str, &[&str], Option<&str>); 5] = [
        ("aes128", &["-v2", "aes-128-cbc"], None),
        (
            "sha512",
            &["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA512"],
            None,
        ),
        ("scrypt", &["-scrypt"], None),
        (
            "sha1",
            &["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA1"],
            Some("PBKDF2 with HMAC-SHA1"),
        ),
        (
            "pbes1",
            &["-v1", "PBE-SHA1-3DES"],
            Some("encryption scheme kafkaroo does not implement"),
        ),
    ];
    for (name, scheme, error) in cases {
        let out = format!("{name}.pem");
        openssl(
            &dir.0,
            &[
                &[
                    "pkcs8", "-topk8", "-in", "key.pem", "-passout", &pass, "-out", &out,
                ],
                scheme,
            ]
            .concat(),
        );
        let result = options(&[
            ("ssl.ca.pem", &f.ca),
            ("ssl.certificate.pem", &f.client_cert),
            ("ssl.key.location", &dir.path(&out)),
            ("ssl.key.password", PASSWORD),
        ])
        .build();
        match error {
            None => assert!(result.is_ok(), "{name}: {:?}", result.err()),
            Some(expected) => {
                let message = config_message(result);
                assert!(
                    message.contains(expected) && message.contains("openssl pkcs8 -topk8"),
                    "{name}: {message}"
                );
            }
        }
    }
}

#[test]
fn debug_shows_sources_not_secrets() {
    let f = fixtures();
    let opts = options(&[
        ("ssl.key.pem", &f.client_key_pkcs8),
        ("ssl.certificate.pem", &f.client_cert),
        ("ssl.ca.location", "/etc/kafka/ca.pem"),
    ]);
    let debug = format!("{opts:?}");
    assert!(debug.contains("/etc/kafka/ca.pem"), "{debug}");
    assert!(debug.contains("ssl.key.pem=<"), "{debug}");
    assert!(
        !debug.contains("PRIVATE KEY") && !debug.contains("BEGIN"),
        "{debug}"
    );
}

#[test]
fn unusable_keys_are_explained() {
    let f = fixtures();
    let dir = TempDir::new("badkeys");
    let ca = dir.write("ca.pem", &f.ca);
    let ca = ca.to_str().unwrap();
    let legacy = dir.write("legacy.key", &f.client_rsa_key_legacy_encrypted);
    let cert = dir.write("client-rsa.pem", &f.client_rsa_cert);
    let message = build_error(&[
        ("ssl.ca.location", ca),
        ("ssl.certificate.location", cert.to_str().unwrap()),
        ("ssl.key.location", legacy.to_str().unwrap()),
        ("ssl.key.password", PASSWORD),
    ]);
    assert!(
        message.contains("legacy PEM format") && message.contains("openssl pkcs8 -topk8"),
        "{message}"
    );

    // A key that is not the certificate's.
    let message = build_error(&[
        ("ssl.ca.location", ca),
        ("ssl.certificate.pem", &f.client_cert),
        ("ssl.key.pem", &f.server_key),
    ]);
    assert!(
        message.contains("does not belong to the client certificate"),
        "{message}"
    );

    // A certificate file given as the key.
    let message = build_error(&[
        ("ssl.ca.location", ca),
        ("ssl.certificate.pem", &f.client_cert),
        ("ssl.key.pem", &f.client_cert),
    ]);
    assert!(
        message.starts_with("ssl.key.pem: the PEM text holds no private key"),
        "{message}"
    );

    // Two keys in one file.
    let two = format!("{}{}", f.client_key_pkcs8, f.client_key_encrypted);
    let message = build_error(&[
        ("ssl.ca.location", ca),
        ("ssl.certificate.pem", &f.client_cert),
        ("ssl.key.pem", &two),
    ]);
    assert!(message.contains("holds 2 private keys"), "{message}");

    // A PKCS#12 keystore.
    let p12 = dir.0.join("client.p12");
    std::fs::write(&p12, &f.client_p12).unwrap();
    let message = build_error(&[
        ("ssl.ca.location", ca),
        ("ssl.keystore.location", p12.to_str().unwrap()),
    ]);
    assert!(message.contains("openssl pkcs12 -in"), "{message}");
}

#[test]
fn missing_files_name_the_property_and_the_file() {
    let cases = [
        (
            "ssl.ca.location",
            "ssl.ca.location: cannot read \"/nonexistent/ca.pem\": No such file or directory",
        ),
        (
            "ssl.truststore.location",
            "ssl.truststore.location: cannot read \"/nonexistent/ca.pem\": No such file or directory",
        ),
    ];
    for (key, expected) in cases {
        assert_eq!(build_error(&[(key, "/nonexistent/ca.pem")]), expected);
    }
    let f = fixtures();
    let message = build_error(&[
        ("ssl.ca.pem", &f.ca),
        ("ssl.certificate.location", "/nonexistent/client.pem"),
        ("ssl.key.location", "/nonexistent/client.key"),
    ]);
    assert_eq!(
        message,
        "ssl.key.location: cannot read \"/nonexistent/client.key\": No such file or directory"
    );
    let message = build_error(&[
        ("ssl.ca.pem", &f.ca),
        ("ssl.crl.location", "/nonexistent/crl.pem"),
    ]);
    assert!(
        message.starts_with("ssl.crl.location: cannot read \"/nonexistent/crl.pem\""),
        "{message}"
    );
}

#[test]
fn incomplete_or_conflicting_settings() {
    let f = fixtures();
    let message = build_error(&[
        ("ssl.ca.pem", &f.ca),
        ("ssl.certificate.location", "/x/client.pem"),
    ]);
    assert!(
        message.starts_with("ssl.certificate.location is set but ssl.key.location is not"),
        "{message}"
    );
    let message = build_error(&[("ssl.ca.pem", &f.ca), ("ssl.key.pem", &f.client_key_pkcs8)]);
    assert!(
        message.starts_with("ssl.key.pem is set but ssl.certificate.location is not"),
        "{message}"
    );

    let mut opts = options(&[("ssl.key.location", "/x/k.pem")]);
    let message = config_message(opts.set("ssl.key.pem", &f.client_key_pkcs8));
    assert!(message.contains("ssl.key.location is also set"), "{message}");
    assert!(!message.contains("PRIVATE"), "{message}");
    // The same property again replaces; empty unsets.
    opts.set("ssl.key.location", "/y/k.pem").unwrap();
    opts.set("ssl.key.location", "").unwrap();
    opts.set("ssl.key.pem", &f.client_key_pkcs8).unwrap();
    let message = config_message(opts.set("ssl.keystore.location", "/x/ks.pem"));
    assert!(message.contains("ssl.key.pem is also set"), "{message}");

    let mut opts = options(&[("ssl.ca.location", "/x")]);
    assert!(
        config_message(opts.set("ssl.truststore.location", "/y")).contains("ssl.ca.location is also set")
    );
}

#[test]
fn ca_directory_reads_every_pem_and_crt_file() {
    let f = fixtures();
    let dir = TempDir::new("capath");
    dir.write("trusted.crt", &f.ca);
    dir.write("other.pem", &f.other_ca);
    dir.write("some.key.pem", &f.client_key_pkcs8); // no certificate: skipped
    dir.write("README", "not a certificate");
    let ca = dir.0.to_str().unwrap();
    let opts = options(&[("ssl.ca.location", ca)]);
    assert_eq!(opts.roots().unwrap().len(), 2);
    assert!(opts.build().is_ok());

    let empty = TempDir::new("capath-empty");
    empty.write("README", "nothing here");
    let message = build_error(&[("ssl.ca.location", empty.0.to_str().unwrap())]);
    assert!(message.contains("holds no certificate"), "{message}");

    let message = build_error(&[("ssl.ca.pem", &f.client_key_pkcs8)]);
    assert!(
        message.starts_with("ssl.ca.pem: no certificate found"),
        "{message}"
    );
    let der = TempDir::new("ca-der");
    let path = der.0.join("ca.p12");
    std::fs::write(&path, &f.client_p12).unwrap();
    let message = build_error(&[("ssl.ca.location", path.to_str().unwrap())]);
    assert!(
        message.contains("holds no PEM certificate") && message.contains("openssl"),
        "{message}"
    );
}

#[test]
fn ssl_properties_that_are_not_supported_say_why() {
    for key in [
        "ssl.engine.location",
        "ssl.providers",
        "ssl.sigalgs.list",
        "ssl.curves.list",
        "ssl_engine_callback_data",
    ] {
        let message = set_error(key, "x");
        assert_eq!(
            message,
            format!("{key} is not supported: kafkaroo uses rustls, not OpenSSL")
        );
    }
    assert!(set_error("ssl.keystore.password", "secret").contains("ssl.key.password"));
    assert!(!set_error("ssl.keystore.password", "secret").contains("secret"));
    assert!(set_error("ssl.truststore.password", "x").contains("no password"));
    assert!(set_error("ssl.truststore.type", "JKS").contains("keytool -exportcert"));
    assert!(set_error("ssl.keystore.type", "PKCS12").contains("openssl pkcs12"));
    assert!(set_error("ssl.endpoint.identification.algorithm", "ldap").contains("use https"));
    assert!(set_error("enable.ssl.certificate.verification", "maybe").contains("true or false"));
    assert!(set_error("ssl.protocol", "TLSv1.1").contains("TLSv1.2 and TLSv1.3 only"));
    assert!(set_error("ssl.enabled.protocols", "TLSv1,TLSv1.1").contains("enables no TLS version"));
    assert!(set_error("ssl.keymanager.algorithm", "PKIX").contains("JSSE"));

    let mut opts = TlsOptions::default();
    assert!(opts.set("ssl.keymanager.algorithm", "SunX509").unwrap());
    assert!(opts.set("ssl.truststore.type", "PEM").unwrap());
    assert!(!opts.set("bootstrap.servers", "a:9093").unwrap());
    assert!(!opts.set("ssl.no.such.thing", "x").unwrap());
    assert!(!opts.set("security.protocol", "SSL").unwrap());
}

#[test]
fn protocols_and_cipher_suites() {
    let versions = |pairs: &[(&str, &str)]| {
        options(pairs)
            .versions()
            .unwrap()
            .iter()
            .map(|v| v.version)
            .collect::<Vec<_>>()
    };
    use rustls::ProtocolVersion::{TLSv1_2, TLSv1_3};
    assert_eq!(versions(&[]), [TLSv1_3, TLSv1_2]);
    assert_eq!(versions(&[("ssl.enabled.protocols", "TLSv1.2")]), [TLSv1_2]);
    assert_eq!(
        versions(&[("ssl.enabled.protocols", "TLSv1.1, TLSv1.2,TLSv1.3")]),
        [TLSv1_3, TLSv1_2]
    );
    assert_eq!(versions(&[("ssl.protocol", "TLSv1.2")]), [TLSv1_2]);
    assert_eq!(versions(&[("ssl.protocol", "TLSv1.3")]), [TLSv1_3, TLSv1_2]);
    let conflict = options(&[("ssl.protocol", "TLSv1.2"), ("ssl.enabled.protocols", "TLSv1.3")]);
    assert!(config_message(conflict.versions()).contains("leave no TLS version"));

    let opts = options(&[(
        "ssl.cipher.suites",
        "ECDHE-ECDSA-AES256-GCM-SHA384:TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    )]);
    let provider = opts.provider();
    let names: Vec<String> = provider.cipher_suites.iter().map(iana_name).collect();
    assert_eq!(
        names[..2],
        [
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        ]
    );
    // TLS 1.2 names alone leave TLS 1.3's suites as they are, as OpenSSL does.
    assert!(names.contains(&"TLS_AES_128_GCM_SHA256".to_owned()), "{names:?}");
    let opts = options(&[("ssl.cipher.suites", "TLS_AES_256_GCM_SHA384")]);
    let names: Vec<String> = opts.provider().cipher_suites.iter().map(iana_name).collect();
    assert_eq!(names, ["TLS_AES_256_GCM_SHA384"]);
    assert!(set_error("ssl.cipher.suites", "HIGH:!aNULL").contains("OpenSSL cipher-list keyword"));
    let message = set_error("ssl.cipher.suites", "TLS_RSA_WITH_AES_128_CBC_SHA");
    assert!(
        message.contains("is not implemented") && message.contains("TLS_AES_128_GCM_SHA256"),
        "{message}"
    );
}

#[test]
fn explanations_name_the_cause() {
    use rustls::{AlertDescription, CertificateError, Error as E};
    let explain = |e: E| explain_tls_error(&e, "kafka-1.example.com");
    assert_eq!(
        explain(E::InvalidCertificate(CertificateError::UnknownIssuer)),
        "the broker's certificate (for kafka-1.example.com) is not signed by a trusted CA: set \
         ssl.ca.location to the CA that signed it"
    );
    assert!(
        explain(E::InvalidCertificate(CertificateError::NotValidForName))
            .contains("set ssl.endpoint.identification.algorithm=none")
    );
    let expired = explain(E::InvalidCertificate(CertificateError::ExpiredContext {
        time: rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000)),
        not_after: rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(1_600_000_000)),
    }));
    assert!(
        expired.contains("expired on 2020-09-13 12:26:40 UTC (it is now 2023-11-14 22:13:20 UTC)"),
        "{expired}"
    );
    assert!(explain(E::InvalidCertificate(CertificateError::NotValidYet)).contains("not valid yet"));
    assert!(
        explain(E::AlertReceived(AlertDescription::CertificateRequired))
            .contains("set ssl.certificate.location and ssl.key.location")
    );
    assert!(
        explain(E::InvalidMessage(rustls::InvalidMessage::InvalidContentType))
            .contains("security.protocol=PLAINTEXT or SASL_PLAINTEXT")
    );
    let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "tls handshake eof");
    assert!(explain_tls_io_error(&eof, "b:9092").contains("is this a PLAINTEXT listener?"));
    let wrapped = io::Error::new(
        io::ErrorKind::InvalidData,
        E::InvalidCertificate(CertificateError::UnknownIssuer),
    );
    assert!(explain_tls_io_error(&wrapped, "b").contains("not signed by a trusted CA"));
    assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
}

#[test]
fn the_provider_is_the_one_compiled_in() {
    let provider = crypto_provider();
    assert!(!provider.cipher_suites.is_empty());
    assert!(Arc::ptr_eq(&provider, &crypto_provider()));
    if cfg!(feature = "graviola") {
        assert_eq!(crypto_provider_name(), "graviola");
    }
}

#[test]
fn custom_config_is_used_as_given() {
    let custom = Arc::new(
        ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth(),
    );
    let mut opts = options(&[("ssl.ca.location", "/nonexistent")]);
    opts.custom_config(custom.clone());
    assert!(Arc::ptr_eq(&opts.build().unwrap(), &custom));
}

mod handshake;
