//! Certificates for a secured broker, made with the `openssl` CLI (no crate that needs a C compiler).
//!
//! In `dir`:
//! - `ca.pem` / `ca.key`: the CA every other certificate (but mallory's) is signed by (RSA 2048);
//! - `broker.pem` (`CN=localhost`, subjectAltName `IP:127.0.0.1,DNS:localhost`, RSA 2048) and
//!   `broker-keystore.pem` (its unencrypted PKCS#8 key, the certificate and the CA: a KIP-651 PEM keystore);
//! - per client principal `<p>.pem` (`CN=<p>,OU=clients,O=kafkaroo-test`, clientAuth), `<p>.key` (PKCS#8),
//!   `<p>.enc.key` (encrypted PKCS#8: PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC, password [`KEY_PASSWORD`]),
//!   `<p>.trad.key` (the "traditional" form: PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`) and
//!   `<p>-keystore.pem` (PKCS#8 key + certificate, for Java's `ssl.keystore.type=PEM`). `alice` has an RSA
//!   2048 key, `bob` an ECDSA P-256 key, both signed by the CA; `mallory` (ECDSA P-256) is signed by the
//!   untrusted CA;
//! - `untrusted-ca.pem` / `.key`: a second CA (ECDSA P-256) nothing of the broker's is signed by.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::error::{Error, IoContext, Result};
use crate::util::{random_u64, status_text};

/// Password of every `<principal>.enc.key`.
pub(crate) const KEY_PASSWORD: &str = "kafkaroo-key-password";

/// Client principals with a certificate signed by the CA, and their key algorithms.
pub(crate) const TRUSTED_PRINCIPALS: &[(&str, KeyAlg)] = &[("alice", KeyAlg::Rsa), ("bob", KeyAlg::Ec)];
/// A client principal whose certificate is signed by the untrusted CA.
pub(crate) const UNTRUSTED_PRINCIPAL: &str = "mallory";

const DAYS: &str = "3650";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyAlg {
    Rsa,
    Ec,
}

impl KeyAlg {
    /// `openssl req -newkey` arguments.
    fn newkey(self) -> &'static [&'static str] {
        match self {
            Self::Rsa => &["-newkey", "rsa:2048"],
            Self::Ec => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        }
    }
}

/// The `openssl` program (`KAFKAROO_OPENSSL`, else `openssl` from PATH), checked once per process.
pub(crate) fn openssl() -> Result<PathBuf> {
    static OPENSSL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    OPENSSL
        .get_or_init(|| {
            let path = std::env::var_os("KAFKAROO_OPENSSL")
                .filter(|p| !p.is_empty())
                .map_or_else(|| PathBuf::from("openssl"), PathBuf::from);
            match Command::new(&path).arg("version").stdin(Stdio::null()).output() {
                Ok(out) if out.status.success() => Ok(path),
                Ok(out) => Err(format!(
                    "`{} version` {}: {}",
                    path.display(),
                    status_text(&out.status),
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(e) => Err(format!("`{}`: {e}", path.display())),
            }
        })
        .clone()
        .map_err(|detail| Error::ToolMissing {
            program: "openssl".into(),
            detail,
            hint: "the secured broker's certificates are made with the openssl CLI: install openssl \
                   (e.g. `apt-get install openssl`) or set KAFKAROO_OPENSSL"
                .into(),
        })
}

/// Runs openssl in `dir`.
fn run(openssl: &Path, dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new(openssl)
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context(|| format!("running openssl {}", args.first().unwrap_or(&"")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Tool {
            tool: format!("openssl {} (in {})", args.join(" "), dir.display()),
            status: status_text(&out.status),
            stderr: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).context(|| format!("writing {}", path.display()))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).context(|| format!("reading {}", path.display()))
}

/// A self-signed CA `<name>.pem` / `<name>.key`.
fn ca(openssl: &Path, dir: &Path, name: &str, cn: &str, alg: KeyAlg) -> Result<()> {
    let (cert, key, subj) = (
        format!("{name}.pem"),
        format!("{name}.key"),
        format!("/O=kafkaroo-test/CN={cn}"),
    );
    let mut args = vec![
        "req", "-x509", "-noenc", "-days", DAYS, "-subj", &subj, "-keyout", &key, "-out", &cert,
    ];
    args.extend_from_slice(alg.newkey());
    args.extend_from_slice(&[
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(openssl, dir, &args)
}

/// A key `<name>.key` (PKCS#8) and a certificate `<name>.pem` signed by `<ca>`, with `extensions`.
fn leaf(
    openssl: &Path,
    dir: &Path,
    name: &str,
    subj: &str,
    alg: KeyAlg,
    ca: &str,
    extensions: &str,
) -> Result<()> {
    let (cert, key, csr, ext) = (
        format!("{name}.pem"),
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.ext"),
    );
    let mut args = vec![
        "req", "-new", "-noenc", "-subj", subj, "-keyout", &key, "-out", &csr,
    ];
    args.extend_from_slice(alg.newkey());
    run(openssl, dir, &args)?;
    write(&dir.join(&ext), extensions)?;
    // A random positive serial (63 bits): two certificates of one CA must not share one.
    let serial = format!("0x{:016x}", random_u64() >> 1);
    let (ca_cert, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    run(
        openssl,
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_cert,
            "-CAkey",
            &ca_key,
            "-set_serial",
            &serial,
            "-days",
            DAYS,
            "-sha256",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    )?;
    let _ = std::fs::remove_file(dir.join(&csr));
    let _ = std::fs::remove_file(dir.join(&ext));
    Ok(())
}

const CLIENT_EXTENSIONS: &str = "basicConstraints=critical,CA:FALSE\n\
     keyUsage=critical,digitalSignature,keyEncipherment\n\
     extendedKeyUsage=clientAuth\n";

/// A client certificate for `principal` and its key in every format.
fn client(openssl: &Path, dir: &Path, principal: &str, alg: KeyAlg, ca: &str) -> Result<()> {
    let subj = format!("/O=kafkaroo-test/OU=clients/CN={principal}");
    leaf(openssl, dir, principal, &subj, alg, ca, CLIENT_EXTENSIONS)?;
    let (key, trad, enc) = (
        format!("{principal}.key"),
        format!("{principal}.trad.key"),
        format!("{principal}.enc.key"),
    );
    run(
        openssl,
        dir,
        &["pkey", "-in", &key, "-traditional", "-out", &trad],
    )?;
    let pass = format!("pass:{KEY_PASSWORD}");
    run(
        openssl,
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-v2prf",
            "hmacWithSHA256",
            "-in",
            &key,
            "-passout",
            &pass,
            "-out",
            &enc,
        ],
    )?;
    let keystore = format!(
        "{}{}",
        read(&dir.join(&key))?,
        read(&dir.join(format!("{principal}.pem")))?
    );
    write(&dir.join(format!("{principal}-keystore.pem")), &keystore)
}

/// Makes every file described in the module documentation in `dir` (which must exist).
pub fn generate(dir: &Path) -> Result<()> {
    let openssl = openssl()?;
    let openssl = openssl.as_path();
    // The two CAs first, then every leaf in parallel (RSA key generation dominates).
    std::thread::scope(|s| {
        let untrusted = s.spawn(|| -> Result<()> {
            ca(
                openssl,
                dir,
                "untrusted-ca",
                "kafkaroo untrusted test CA",
                KeyAlg::Ec,
            )?;
            client(openssl, dir, UNTRUSTED_PRINCIPAL, KeyAlg::Ec, "untrusted-ca")
        });
        let trusted = (|| -> Result<()> {
            ca(openssl, dir, "ca", "kafkaroo test CA", KeyAlg::Rsa)?;
            let mut jobs = vec![s.spawn(|| -> Result<()> {
                leaf(
                    openssl,
                    dir,
                    "broker",
                    "/O=kafkaroo-test/CN=localhost",
                    KeyAlg::Rsa,
                    "ca",
                    "basicConstraints=critical,CA:FALSE\n\
                     keyUsage=critical,digitalSignature,keyEncipherment\n\
                     extendedKeyUsage=serverAuth,clientAuth\n\
                     subjectAltName=IP:127.0.0.1,DNS:localhost\n",
                )?;
                let keystore = format!(
                    "{}{}{}",
                    read(&dir.join("broker.key"))?,
                    read(&dir.join("broker.pem"))?,
                    read(&dir.join("ca.pem"))?
                );
                write(&dir.join("broker-keystore.pem"), &keystore)
            })];
            for &(principal, alg) in TRUSTED_PRINCIPALS {
                jobs.push(s.spawn(move || client(openssl, dir, principal, alg, "ca")));
            }
            // The scope joins whatever is left after an error.
            jobs.into_iter().try_for_each(|j| {
                j.join()
                    .unwrap_or_else(|_| Err(Error::Protocol("certificate thread panicked".into())))
            })
        })();
        let untrusted = untrusted
            .join()
            .unwrap_or_else(|_| Err(Error::Protocol("certificate thread panicked".into())));
        trusted.and(untrusted)
    })
}
