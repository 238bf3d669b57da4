//! A single-node KRaft broker with TLS, mTLS, SASL (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER) and ACLs.

use std::fmt::Write as _;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::helper::hex;
use crate::jvm::ExtraListener;
use crate::produce::{ConsumedRecord, Isolation, ProduceRequest, RecordPosition};
use crate::{Cluster, ClusterOptions, janitor, kafka_version, tls, util};

/// The users of [`SecuredCluster`] and their passwords, the same for PLAIN and SCRAM (SHA-256 and
/// SHA-512). `admin` is a super user; `alice` is the principal tests grant ACLs to; `bob` is granted
/// nothing.
pub const SECURED_USERS: &[(&str, &str)] = &[
    ("admin", "admin-secret"),
    ("alice", "alice-secret"),
    ("bob", "bob-secret"),
];

/// Client principals with a certificate signed by the broker's CA (`CN=<principal>`).
pub const CERT_PRINCIPALS: &[&str] = &["alice", "bob"];

/// A principal whose client certificate is signed by the untrusted CA ([`SecuredCluster::untrusted_ca_pem`]):
/// the broker rejects it.
pub const UNTRUSTED_CERT_PRINCIPAL: &str = "mallory";

/// SCRAM iterations of the users the harness adds (Kafka's minimum).
pub const SCRAM_ITERATIONS: u32 = 4096;

/// Options of [`SecuredCluster::start`].
#[derive(Debug, Clone, Default)]
pub struct SecuredOptions {
    /// KIP-368: the broker's `connections.max.reauth.ms`. SASL sessions then last at most this long
    /// (SaslAuthenticate v1+ reports it as `session_lifetime_ms`) and the broker closes a connection that
    /// did not re-authenticate in time. `None`: the broker default (0, no re-authentication).
    pub reauth_ms: Option<u64>,
    /// Kafka version; `None` = `KAFKAROO_KAFKA_VERSION` or [`crate::DEFAULT_KAFKA_VERSION`].
    pub version: Option<String>,
    /// Extra broker properties, appended to (and overriding) the secured defaults.
    pub broker_configs: Vec<(String, String)>,
    /// Full JIT (C2) for the broker, for benchmarks (TLS in the broker is slow with C1 only).
    pub full_jit: bool,
}

/// The forms of a client principal's private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFormat {
    /// Unencrypted PKCS#8 (`BEGIN PRIVATE KEY`).
    Pkcs8,
    /// The algorithm's own form: PKCS#1 (`BEGIN RSA PRIVATE KEY`, alice) or SEC1 (`BEGIN EC PRIVATE
    /// KEY`, bob and mallory).
    Pkcs1OrSec1,
    /// Encrypted PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`: PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC) with the
    /// password [`SecuredCluster::encrypted_key_password`].
    EncryptedPkcs8,
}

/// SASL mechanisms of the secured broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// `PLAIN`: user name and password sent as they are.
    Plain,
    /// `SCRAM-SHA-256`, with [`SCRAM_ITERATIONS`] iterations.
    ScramSha256,
    /// `SCRAM-SHA-512`, with [`SCRAM_ITERATIONS`] iterations.
    ScramSha512,
    /// Unsecured JWS tokens (`alg: none`) validated by Kafka's default validator; the principal is the
    /// `sub` claim. Enabled on the SASL_SSL listener only.
    OAuthBearer,
}

impl SaslMechanism {
    /// The mechanism's name: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }
}

/// How a reference client (Java, librdkafka) connects to a [`SecuredCluster`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth<'a> {
    /// The PLAINTEXT listener: principal `User:ANONYMOUS`, a super user.
    Plaintext,
    /// The SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
    SaslPlaintext {
        /// PLAIN or SCRAM: this listener does not enable OAUTHBEARER.
        mechanism: SaslMechanism,
        /// The user name, e.g. one of [`SECURED_USERS`].
        user: &'a str,
        /// The user's password.
        password: &'a str,
    },
    /// The SASL_SSL listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER; for OAUTHBEARER `user` is
    /// the token's `sub` and `password` is ignored).
    SaslSsl {
        /// Any of the broker's mechanisms.
        mechanism: SaslMechanism,
        /// The user name, e.g. one of [`SECURED_USERS`] (OAUTHBEARER: the token's `sub`).
        user: &'a str,
        /// The user's password (ignored for OAUTHBEARER).
        password: &'a str,
    },
    /// The SSL listener with the client certificate of `principal` (mTLS; the principal is its CN).
    Ssl {
        /// One of [`CERT_PRINCIPALS`] or [`UNTRUSTED_CERT_PRINCIPAL`]; other names panic.
        principal: &'a str,
    },
}

/// A resource an ACL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclResource<'a> {
    /// The topic with exactly this name.
    Topic(&'a str),
    /// Every topic whose name starts with the prefix.
    TopicPrefix(&'a str),
    /// The group with exactly this id.
    Group(&'a str),
    /// Every group whose id starts with the prefix.
    GroupPrefix(&'a str),
    /// The cluster (`kafka-cluster`).
    Cluster,
    /// The transactional id, exactly.
    TransactionalId(&'a str),
    /// Every transactional id that starts with the prefix.
    TransactionalIdPrefix(&'a str),
}

impl AclResource<'_> {
    /// (ResourceType, PatternType, name) as the Java Admin client names them.
    fn java(&self) -> (&'static str, &'static str, &str) {
        match *self {
            Self::Topic(n) => ("TOPIC", "LITERAL", n),
            Self::TopicPrefix(n) => ("TOPIC", "PREFIXED", n),
            Self::Group(n) => ("GROUP", "LITERAL", n),
            Self::GroupPrefix(n) => ("GROUP", "PREFIXED", n),
            Self::Cluster => ("CLUSTER", "LITERAL", "kafka-cluster"),
            Self::TransactionalId(n) => ("TRANSACTIONAL_ID", "LITERAL", n),
            Self::TransactionalIdPrefix(n) => ("TRANSACTIONAL_ID", "PREFIXED", n),
        }
    }
}

/// Whether an ACL allows or denies (a DENY wins over any ALLOW).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AclPermission {
    /// `ALLOW`: grants the operation.
    Allow,
    /// `DENY`: refuses the operation, whatever ALLOW ACLs say.
    Deny,
}

/// ACL operations as Java's `AclOperation` names them: `Read`, `read`, `READ`, `IdempotentWrite` and
/// `IDEMPOTENT_WRITE` are all accepted.
fn acl_operation(operation: &str) -> Result<String> {
    const KNOWN: &[&str] = &[
        "ALL",
        "READ",
        "WRITE",
        "CREATE",
        "DELETE",
        "ALTER",
        "DESCRIBE",
        "CLUSTER_ACTION",
        "DESCRIBE_CONFIGS",
        "ALTER_CONFIGS",
        "IDEMPOTENT_WRITE",
        "CREATE_TOKENS",
        "DESCRIBE_TOKENS",
        "TWO_PHASE_COMMIT",
    ];
    let operation = operation.trim();
    let name = if operation.contains('_') || !operation.chars().any(|c| c.is_ascii_lowercase()) {
        operation.to_ascii_uppercase()
    } else {
        // CamelCase (or lower case): a '_' before every inner capital.
        let mut name = String::new();
        for (i, c) in operation.chars().enumerate() {
            if i > 0 && c.is_ascii_uppercase() {
                name.push('_');
            }
            name.push(c.to_ascii_uppercase());
        }
        name
    };
    if KNOWN.contains(&name.as_str()) {
        Ok(name)
    } else {
        Err(Error::Unsupported(format!(
            "unknown ACL operation {operation:?} (one of {KNOWN:?}, any case, or CamelCase)"
        )))
    }
}

/// `User:<name>` unless `principal` already names its type.
fn principal_name(principal: &str) -> String {
    if principal.contains(':') {
        principal.to_owned()
    } else {
        format!("User:{principal}")
    }
}

/// Quotes a JAAS option value.
fn jaas_quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A single-node KRaft broker (a local JVM from the cached jars, whatever `KAFKAROO_BOOTSTRAP` and Docker
/// say) with these listeners on 127.0.0.1, each on its own free port:
///
/// | listener | authentication |
/// |---|---|
/// | `SASL_SSL` | TLS + PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (unsecured JWS) |
/// | `SSL` | mTLS (`ssl.client.auth=required`), principal = the certificate's CN |
/// | `SASL_PLAINTEXT` | PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 |
/// | `PLAINTEXT` | none: `User:ANONYMOUS`, a super user (admin, inter-broker, the harness) |
/// | `CONTROLLER` | none (ANONYMOUS, KRaft controller traffic) |
///
/// `StandardAuthorizer` with `allow.everyone.if.no.acl.found=false` and
/// `super.users=User:ANONYMOUS;User:admin`: a principal may only do what ACLs ([`Self::allow`]) grant.
/// Users: [`SECURED_USERS`] (PLAIN from the JAAS config, SCRAM added through the Admin API after start-up).
/// Certificates: see [`Self::ca_pem_path`], [`Self::client_cert_path`], [`Self::client_key_path`].
///
/// It dereferences to a [`Cluster`] on the PLAINTEXT listener, so every `Cluster` helper works as the
/// super user: `create_topic`, `produce`, `read_records`, `run_java_tool`... [`Self::produce_as`] and
/// [`Self::read_records_as`] run the Java client as another principal.
pub struct SecuredCluster {
    cluster: Cluster,
    sasl_ssl: String,
    ssl: String,
    sasl_plaintext: String,
    tls_dir: PathBuf,
    reauth_ms: Option<u64>,
}

impl std::fmt::Debug for SecuredCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecuredCluster")
            .field("plaintext", &self.cluster.bootstrap())
            .field("sasl_ssl", &self.sasl_ssl)
            .field("ssl", &self.ssl)
            .field("sasl_plaintext", &self.sasl_plaintext)
            .field("version", &self.cluster.version())
            .field("reauth_ms", &self.reauth_ms)
            .field("dir", &self.cluster.dir())
            .finish_non_exhaustive()
    }
}

impl Deref for SecuredCluster {
    type Target = Cluster;

    fn deref(&self) -> &Cluster {
        &self.cluster
    }
}

const SASL_SSL: &str = "SASL_SSL";
const SSL: &str = "SSL";
const SASL_PLAINTEXT: &str = "SASL_PLAINTEXT";

impl SecuredCluster {
    /// The secured broker shared by every test of this process (default options, version from
    /// `KAFKAROO_KAFKA_VERSION`), started on first use. Panics with the cause when it cannot start (no
    /// java, no openssl, a broker error with its log).
    pub fn shared() -> &'static Self {
        match Self::try_shared() {
            Ok(c) => c,
            Err(e) => panic!("kafkaroo-testcontainers: no shared secured Kafka broker: {e}"),
        }
    }

    /// The shared secured broker, or the error that prevented it (the same error on every call).
    pub fn try_shared() -> Result<&'static Self, &'static Error> {
        static SHARED: OnceLock<Result<SecuredCluster>> = OnceLock::new();
        SHARED
            .get_or_init(|| Self::start(SecuredOptions::default()))
            .as_ref()
    }

    /// A dedicated secured broker: makes the certificates, starts the JVM, adds the SCRAM users.
    pub fn start(options: SecuredOptions) -> Result<Self> {
        let version = options.version.clone().unwrap_or_else(kafka_version);
        // Before anything else: a missing prerequisite should say so, not fail half-way.
        tls::openssl()?;
        crate::dist::java()?;
        let dir = util::temp_dir("kafkaroo-secured")?;
        let janitor = janitor(&dir)?;
        let tls_dir = dir.join("tls");
        let made = std::fs::create_dir_all(&tls_dir)
            .map_err(|source| Error::Io {
                context: format!("creating {}", tls_dir.display()),
                source,
            })
            .and_then(|()| tls::generate(&tls_dir));
        if let Err(e) = made {
            if let Some(j) = janitor {
                j.disarm();
            }
            if !util::keep_data() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            return Err(e);
        }

        let mut broker_configs = broker_configs(&tls_dir, options.reauth_ms);
        broker_configs.extend(options.broker_configs.iter().cloned());
        let cluster_options = ClusterOptions {
            nodes: 1,
            version: Some(version.clone()),
            broker_configs,
            node_configs: Vec::new(),
            full_jit: options.full_jit,
            extra_classpath: Vec::new(),
        };
        let listeners = [
            (SASL_SSL, "SASL_SSL"),
            (SSL, "SSL"),
            (SASL_PLAINTEXT, "SASL_PLAINTEXT"),
        ]
        .map(|(name, protocol)| ExtraListener {
            name: name.to_owned(),
            protocol: protocol.to_owned(),
        });
        let cluster = Cluster::start_in(dir, janitor, version, &cluster_options, false, &listeners)?;
        let address = |name: &str| {
            cluster
                .listener_address(0, name)
                .ok_or_else(|| Error::Protocol(format!("no {name} listener was started")))
        };
        let secured = Self {
            sasl_ssl: address(SASL_SSL)?,
            ssl: address(SSL)?,
            sasl_plaintext: address(SASL_PLAINTEXT)?,
            tls_dir,
            reauth_ms: options.reauth_ms,
            cluster,
        };
        for (user, password) in SECURED_USERS {
            secured.add_scram_user(user, password)?;
        }
        Ok(secured)
    }

    /// The plain [`Cluster`] on the PLAINTEXT listener (super user); the same as dereferencing.
    pub fn admin(&self) -> &Cluster {
        &self.cluster
    }

    /// `127.0.0.1:<port>` of the SASL_SSL listener.
    pub fn sasl_ssl_bootstrap(&self) -> &str {
        &self.sasl_ssl
    }

    /// `127.0.0.1:<port>` of the SSL (mTLS) listener.
    pub fn ssl_bootstrap(&self) -> &str {
        &self.ssl
    }

    /// `127.0.0.1:<port>` of the SASL_PLAINTEXT listener.
    pub fn sasl_plaintext_bootstrap(&self) -> &str {
        &self.sasl_plaintext
    }

    /// `127.0.0.1:<port>` of the PLAINTEXT listener (super user `ANONYMOUS`); the same as `bootstrap()`.
    pub fn plaintext_bootstrap(&self) -> &str {
        self.cluster.bootstrap()
    }

    /// The broker's Kafka version.
    pub fn version(&self) -> &str {
        self.cluster.version()
    }

    /// The broker's `connections.max.reauth.ms`, when set.
    pub fn reauth_ms(&self) -> Option<u64> {
        self.reauth_ms
    }

    /// PEM of the CA that signed the broker's certificate (subjectAltName `IP:127.0.0.1,DNS:localhost`)
    /// and alice's and bob's client certificates.
    pub fn ca_pem_path(&self) -> PathBuf {
        self.tls_dir.join("ca.pem")
    }

    /// PEM of a CA that signed nothing of the broker's (only mallory's client certificate): trusting only
    /// it must fail the TLS handshake.
    pub fn untrusted_ca_pem(&self) -> PathBuf {
        self.tls_dir.join("untrusted-ca.pem")
    }

    /// The broker's certificate (PEM), e.g. to pin it.
    pub fn broker_cert_path(&self) -> PathBuf {
        self.tls_dir.join("broker.pem")
    }

    fn check_principal(principal: &str) {
        assert!(
            CERT_PRINCIPALS.contains(&principal) || principal == UNTRUSTED_CERT_PRINCIPAL,
            "no client certificate for {principal:?}: the harness makes {CERT_PRINCIPALS:?} (signed by the \
             CA) and {UNTRUSTED_CERT_PRINCIPAL:?} (signed by the untrusted CA)"
        );
    }

    /// The client certificate (PEM) of `principal`: `alice` (RSA 2048) and `bob` (ECDSA P-256), signed by
    /// the CA, subject `CN=<principal>,OU=clients,O=kafkaroo-test` (principal `User:<principal>` on the
    /// SSL listener); `mallory` (ECDSA P-256), signed by the untrusted CA. Panics for another name.
    pub fn client_cert_path(&self, principal: &str) -> PathBuf {
        Self::check_principal(principal);
        self.tls_dir.join(format!("{principal}.pem"))
    }

    /// The private key of `principal`'s client certificate in `format`. Panics for an unknown principal.
    pub fn client_key_path(&self, principal: &str, format: KeyFormat) -> PathBuf {
        Self::check_principal(principal);
        self.tls_dir.join(match format {
            KeyFormat::Pkcs8 => format!("{principal}.key"),
            KeyFormat::Pkcs1OrSec1 => format!("{principal}.trad.key"),
            KeyFormat::EncryptedPkcs8 => format!("{principal}.enc.key"),
        })
    }

    /// Password of every [`KeyFormat::EncryptedPkcs8`] key.
    pub fn encrypted_key_password(&self) -> &'static str {
        tls::KEY_PASSWORD
    }

    /// The PLAIN and SCRAM password of one of [`SECURED_USERS`].
    pub fn password(user: &str) -> Option<&'static str> {
        SECURED_USERS.iter().find(|(u, _)| *u == user).map(|(_, p)| *p)
    }

    /// Adds (or replaces) SCRAM-SHA-256 and SCRAM-SHA-512 credentials for `user` (4096 iterations) and
    /// waits until the broker knows them. One Admin request per mechanism: the broker refuses to alter a
    /// user twice in one request.
    pub fn add_scram_user(&self, user: &str, password: &str) -> Result<()> {
        for mechanism in [SaslMechanism::ScramSha256, SaslMechanism::ScramSha512] {
            self.add_scram_credential(user, mechanism, password, SCRAM_ITERATIONS)?;
        }
        Ok(())
    }

    /// Adds (or replaces) one SCRAM credential with `iterations` (at least 4096; Kafka's maximum is
    /// 16384) and waits until the broker lists it.
    pub fn add_scram_credential(
        &self,
        user: &str,
        mechanism: SaslMechanism,
        password: &str,
        iterations: u32,
    ) -> Result<()> {
        if !matches!(mechanism, SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512) {
            return Err(Error::Unsupported(format!(
                "{} is not a SCRAM mechanism",
                mechanism.name()
            )));
        }
        let req = format!(
            "scram\t{}\t{}\t{iterations}\t{}",
            hex(user.as_bytes()),
            mechanism.name(),
            hex(password.as_bytes())
        );
        self.cluster
            .helper_call(
                &req,
                &format!("adding {} credentials for {user}", mechanism.name()),
            )
            .map(drop)
    }

    /// Allows `principal` (`alice` or `User:alice`) `operation` (`Read`, `Write`, `Describe`,
    /// `IdempotentWrite`, `All`..., any case) on `resource` from any host, and waits until the broker's
    /// authorizer applies it.
    pub fn allow(&self, principal: &str, resource: AclResource<'_>, operation: &str) -> Result<()> {
        self.acl(true, principal, resource, operation, AclPermission::Allow)
    }

    /// Denies `principal` `operation` on `resource` (a DENY overrides every ALLOW).
    pub fn deny(&self, principal: &str, resource: AclResource<'_>, operation: &str) -> Result<()> {
        self.acl(true, principal, resource, operation, AclPermission::Deny)
    }

    /// Removes an ACL added by [`Self::allow`] or [`Self::deny`] and waits until the authorizer dropped it.
    pub fn remove_acl(
        &self,
        principal: &str,
        resource: AclResource<'_>,
        operation: &str,
        permission: AclPermission,
    ) -> Result<()> {
        self.acl(false, principal, resource, operation, permission)
    }

    fn acl(
        &self,
        add: bool,
        principal: &str,
        resource: AclResource<'_>,
        operation: &str,
        permission: AclPermission,
    ) -> Result<()> {
        let (resource_type, pattern, name) = resource.java();
        let operation = acl_operation(operation)?;
        let principal = principal_name(principal);
        let req = format!(
            "acl\t{}\t{}\t{resource_type}\t{pattern}\t{}\t{}\t{operation}\t{}",
            if add { "add" } else { "remove" },
            match permission {
                AclPermission::Allow => "ALLOW",
                AclPermission::Deny => "DENY",
            },
            hex(name.as_bytes()),
            hex(principal.as_bytes()),
            hex(b"*"),
        );
        let what = format!(
            "{} ACL {permission:?} {principal} {operation} on {resource:?}",
            if add { "adding" } else { "removing" }
        );
        self.cluster.helper_call(&req, &what).map(drop)
    }

    /// Java client properties (`bootstrap.servers`, `security.protocol`, `sasl.*`, `ssl.*` with PEM
    /// trust and key stores) for `auth`.
    pub fn java_client_configs(&self, auth: ClientAuth<'_>) -> Vec<(String, String)> {
        let mut c: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: String| c.push((k.to_owned(), v));
        let truststore = |set: &mut dyn FnMut(&str, String)| {
            set("ssl.truststore.type", "PEM".into());
            set(
                "ssl.truststore.location",
                self.ca_pem_path().display().to_string(),
            );
        };
        match auth {
            ClientAuth::Plaintext => {
                set("bootstrap.servers", self.plaintext_bootstrap().into());
                set("security.protocol", "PLAINTEXT".into());
            }
            ClientAuth::SaslPlaintext {
                mechanism,
                user,
                password,
            }
            | ClientAuth::SaslSsl {
                mechanism,
                user,
                password,
            } => {
                let tls = matches!(auth, ClientAuth::SaslSsl { .. });
                if tls {
                    set("bootstrap.servers", self.sasl_ssl.clone());
                    set("security.protocol", "SASL_SSL".into());
                    truststore(&mut set);
                } else {
                    set("bootstrap.servers", self.sasl_plaintext.clone());
                    set("security.protocol", "SASL_PLAINTEXT".into());
                }
                set("sasl.mechanism", mechanism.name().into());
                let jaas = match mechanism {
                    SaslMechanism::Plain => format!(
                        "org.apache.kafka.common.security.plain.PlainLoginModule required username={} password={};",
                        jaas_quote(user),
                        jaas_quote(password)
                    ),
                    SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => format!(
                        "org.apache.kafka.common.security.scram.ScramLoginModule required username={} password={};",
                        jaas_quote(user),
                        jaas_quote(password)
                    ),
                    SaslMechanism::OAuthBearer => format!(
                        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
                         unsecuredLoginStringClaim_sub={};",
                        jaas_quote(user)
                    ),
                };
                set("sasl.jaas.config", jaas);
            }
            ClientAuth::Ssl { principal } => {
                Self::check_principal(principal);
                set("bootstrap.servers", self.ssl.clone());
                set("security.protocol", "SSL".into());
                truststore(&mut set);
                set("ssl.keystore.type", "PEM".into());
                set(
                    "ssl.keystore.location",
                    self.tls_dir
                        .join(format!("{principal}-keystore.pem"))
                        .display()
                        .to_string(),
                );
            }
        }
        c
    }

    /// librdkafka (kcat) properties for `auth`: `bootstrap.servers`, `security.protocol`,
    /// `sasl.mechanisms`, `sasl.username`/`sasl.password` (OAUTHBEARER: the built-in unsecured JWT with
    /// `sasl.oauthbearer.config=principal=<user>`), `ssl.ca.location`, `ssl.certificate.location`,
    /// `ssl.key.location` (PKCS#8).
    pub fn librdkafka_configs(&self, auth: ClientAuth<'_>) -> Vec<(String, String)> {
        let mut c: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: String| c.push((k.to_owned(), v));
        match auth {
            ClientAuth::Plaintext => {
                set("bootstrap.servers", self.plaintext_bootstrap().into());
                set("security.protocol", "plaintext".into());
            }
            ClientAuth::SaslPlaintext {
                mechanism,
                user,
                password,
            }
            | ClientAuth::SaslSsl {
                mechanism,
                user,
                password,
            } => {
                if matches!(auth, ClientAuth::SaslSsl { .. }) {
                    set("bootstrap.servers", self.sasl_ssl.clone());
                    set("security.protocol", "sasl_ssl".into());
                    set("ssl.ca.location", self.ca_pem_path().display().to_string());
                } else {
                    set("bootstrap.servers", self.sasl_plaintext.clone());
                    set("security.protocol", "sasl_plaintext".into());
                }
                set("sasl.mechanisms", mechanism.name().into());
                if mechanism == SaslMechanism::OAuthBearer {
                    set("enable.sasl.oauthbearer.unsecure.jwt", "true".into());
                    set("sasl.oauthbearer.config", format!("principal={user}"));
                } else {
                    set("sasl.username", user.into());
                    set("sasl.password", password.into());
                }
            }
            ClientAuth::Ssl { principal } => {
                set("bootstrap.servers", self.ssl.clone());
                set("security.protocol", "ssl".into());
                set("ssl.ca.location", self.ca_pem_path().display().to_string());
                set(
                    "ssl.certificate.location",
                    self.client_cert_path(principal).display().to_string(),
                );
                set(
                    "ssl.key.location",
                    self.client_key_path(principal, KeyFormat::Pkcs8)
                        .display()
                        .to_string(),
                );
            }
        }
        c
    }

    /// Produces `req` with the Java client (the Java helper's `KafkaProducer`; `req.via` is ignored)
    /// authenticated as `auth`. The request's own producer configs come last and win.
    pub fn produce_as(&self, auth: ClientAuth<'_>, req: &ProduceRequest) -> Result<Vec<RecordPosition>> {
        let mut configs = self.java_client_configs(auth);
        configs.extend(req.producer_configs.iter().cloned());
        let mut req = req.clone().via(crate::Producer::Java);
        req.producer_configs = configs;
        self.cluster.produce(&req)
    }

    /// Reads `partition` of `topic` from the beginning to its end with the Java consumer (no group)
    /// authenticated as `auth`.
    pub fn read_records_as(
        &self,
        auth: ClientAuth<'_>,
        topic: &str,
        partition: i32,
        isolation: Isolation,
    ) -> Result<Vec<ConsumedRecord>> {
        self.cluster
            .read_records_with(topic, partition, isolation, &self.java_client_configs(auth))
    }

    /// Directory of the certificates and keys (inside [`Cluster::dir`]).
    pub fn tls_dir(&self) -> &Path {
        &self.tls_dir
    }
}

/// The broker properties of the secured listeners, users and authorizer.
fn broker_configs(tls: &Path, reauth_ms: Option<u64>) -> Vec<(String, String)> {
    let mut c: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| c.push((k.to_owned(), v));
    let plain_users = SECURED_USERS.iter().fold(String::new(), |mut s, (u, p)| {
        let _ = write!(s, " user_{u}={}", jaas_quote(p));
        s
    });
    let admin_password = SecuredCluster::password("admin").unwrap_or_default();
    let plain = format!(
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password={}{plain_users};",
        jaas_quote(admin_password)
    );
    let scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;".to_owned();
    // The broker's own (unused) login needs a subject; clients' tokens are checked by the default
    // OAuthBearerUnsecuredValidatorCallbackHandler (no sasl.server.callback.handler.class).
    let oauth = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
                 unsecuredLoginStringClaim_sub=\"admin\";"
        .to_owned();
    set(
        "sasl.enabled.mechanisms",
        "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER".into(),
    );
    set(
        "listener.name.sasl_ssl.sasl.enabled.mechanisms",
        "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER".into(),
    );
    set(
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms",
        "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512".into(),
    );
    for listener in ["sasl_ssl", "sasl_plaintext"] {
        set(
            &format!("listener.name.{listener}.plain.sasl.jaas.config"),
            plain.clone(),
        );
        set(
            &format!("listener.name.{listener}.scram-sha-256.sasl.jaas.config"),
            scram.clone(),
        );
        set(
            &format!("listener.name.{listener}.scram-sha-512.sasl.jaas.config"),
            scram.clone(),
        );
    }
    set("listener.name.sasl_ssl.oauthbearer.sasl.jaas.config", oauth);
    // TLS for SSL and SASL_SSL: KIP-651 PEM stores (unencrypted PKCS#8 key; no store password allowed).
    set("ssl.keystore.type", "PEM".into());
    set(
        "ssl.keystore.location",
        tls.join("broker-keystore.pem").display().to_string(),
    );
    set("ssl.truststore.type", "PEM".into());
    set(
        "ssl.truststore.location",
        tls.join("ca.pem").display().to_string(),
    );
    set("listener.name.ssl.ssl.client.auth", "required".into());
    set(
        "ssl.principal.mapping.rules",
        "RULE:^CN=([^,]+),.*$/$1/,RULE:^CN=([^,]+)$/$1/,DEFAULT".into(),
    );
    set(
        "authorizer.class.name",
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
    );
    set("allow.everyone.if.no.acl.found", "false".into());
    set("super.users", "User:ANONYMOUS;User:admin".into());
    if let Some(ms) = reauth_ms {
        set("connections.max.reauth.ms", ms.to_string());
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_operations_accept_java_and_camel_case_names() {
        assert_eq!(acl_operation("Read").unwrap(), "READ");
        assert_eq!(acl_operation("read").unwrap(), "READ");
        assert_eq!(acl_operation("IdempotentWrite").unwrap(), "IDEMPOTENT_WRITE");
        assert_eq!(acl_operation("IDEMPOTENT_WRITE").unwrap(), "IDEMPOTENT_WRITE");
        assert_eq!(acl_operation("DescribeConfigs").unwrap(), "DESCRIBE_CONFIGS");
        assert!(acl_operation("Fly").is_err());
    }

    #[test]
    fn jaas_values_are_quoted() {
        assert_eq!(jaas_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(principal_name("alice"), "User:alice");
        assert_eq!(principal_name("User:bob"), "User:bob");
    }
}
