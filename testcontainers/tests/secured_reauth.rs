//! KIP-368 on a dedicated secured broker with a short `connections.max.reauth.ms`: the broker announces
//! the session lifetime and closes a connection whose session expired; Kafka's Java producer keeps
//! working across re-authentications. Checked with raw requests (the harness' own bytes) and the Java
//! client, never kafkaroo. Also reports the start-up time (certificates, broker, SCRAM users).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use kafkaroo_testcontainers::{AclResource, ClientAuth, SaslMechanism, SecuredCluster, SecuredOptions};

const REAUTH_MS: u64 = 2000;

/// One connection speaking request header v1 (non-flexible requests only).
struct Conn {
    stream: TcpStream,
    correlation_id: i32,
}

impl Conn {
    fn connect(addr: &str) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Self {
            stream,
            correlation_id: 0,
        }
    }

    /// Sends a request and returns the response body, or the I/O error (e.g. the broker closed).
    fn call(&mut self, api_key: i16, version: i16, body: &[u8]) -> std::io::Result<Vec<u8>> {
        self.correlation_id += 1;
        let client_id = b"kafkaroo-secured-test";
        let mut msg = Vec::new();
        msg.extend_from_slice(&api_key.to_be_bytes());
        msg.extend_from_slice(&version.to_be_bytes());
        msg.extend_from_slice(&self.correlation_id.to_be_bytes());
        msg.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
        msg.extend_from_slice(client_id);
        msg.extend_from_slice(body);
        let mut frame = (msg.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&msg);
        self.stream.write_all(&frame)?;
        let mut size = [0; 4];
        self.stream.read_exact(&mut size)?;
        let mut response = vec![0; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut response)?;
        assert_eq!(
            i32::from_be_bytes(response[..4].try_into().unwrap()),
            self.correlation_id
        );
        Ok(response[4..].to_vec())
    }

    /// SaslHandshake v1 + SaslAuthenticate v1 with PLAIN: (error code, error message, session lifetime).
    fn plain(&mut self, user: &str, password: &str) -> (i16, Option<String>, i64) {
        let mechanism = b"PLAIN";
        let mut body = (mechanism.len() as i16).to_be_bytes().to_vec();
        body.extend_from_slice(mechanism);
        let r = self.call(17, 1, &body).unwrap();
        assert_eq!(i16::from_be_bytes([r[0], r[1]]), 0, "SaslHandshake error");
        let token = format!("\0{user}\0{password}");
        let mut body = (token.len() as i32).to_be_bytes().to_vec();
        body.extend_from_slice(token.as_bytes());
        let r = self.call(36, 1, &body).unwrap();
        let error = i16::from_be_bytes([r[0], r[1]]);
        let len = i16::from_be_bytes([r[2], r[3]]);
        let (message, rest) = if len < 0 {
            (None, &r[4..])
        } else {
            let end = 4 + len as usize;
            (Some(String::from_utf8_lossy(&r[4..end]).into_owned()), &r[end..])
        };
        let bytes = i32::from_be_bytes(rest[..4].try_into().unwrap()).max(0) as usize;
        let lifetime = i64::from_be_bytes(rest[4 + bytes..12 + bytes].try_into().unwrap());
        (error, message, lifetime)
    }

    /// Metadata v1 for no topic.
    fn metadata(&mut self) -> std::io::Result<Vec<u8>> {
        self.call(3, 1, &0i32.to_be_bytes())
    }
}

#[test]
fn broker_demands_reauthentication_and_java_clients_follow() {
    let start = Instant::now();
    let c = SecuredCluster::start(SecuredOptions {
        reauth_ms: Some(REAUTH_MS),
        ..SecuredOptions::default()
    })
    .unwrap();
    eprintln!(
        "secured broker {} with reauth {REAUTH_MS} ms: certificates + start + SCRAM users in {:?}",
        c.version(),
        start.elapsed()
    );
    assert_eq!(c.reauth_ms(), Some(REAUTH_MS));

    // The broker announces the session lifetime and closes the connection once it is over.
    let mut conn = Conn::connect(c.sasl_plaintext_bootstrap());
    let authenticated = Instant::now();
    let (error, message, lifetime) = conn.plain("alice", SecuredCluster::password("alice").unwrap());
    // (The broker sends an empty, not a null, error message on success.)
    assert_eq!(error, 0, "{message:?}");
    assert!(
        lifetime > 0 && lifetime <= REAUTH_MS as i64,
        "session lifetime {lifetime}"
    );
    conn.metadata().expect("a request within the session is answered");
    std::thread::sleep(Duration::from_millis(lifetime as u64 + 500).saturating_sub(authenticated.elapsed()));
    assert!(
        conn.metadata().is_err(),
        "the broker must close a connection whose session expired"
    );

    // A wrong password: SASL_AUTHENTICATION_FAILED (58) with a message.
    let mut conn = Conn::connect(c.sasl_plaintext_bootstrap());
    let (error, message, _) = conn.plain("alice", "wrong");
    assert_eq!(error, 58, "{message:?}");
    assert!(message.is_some_and(|m| !m.is_empty()));

    // Kafka's Java producer sends for several session lifetimes over one SASL_SSL SCRAM connection.
    for op in ["Describe", "Write"] {
        c.allow("alice", AclResource::TopicPrefix("alice-"), op).unwrap();
    }
    let topic = c.unique_topic("alice-reauth");
    c.create_topic(&topic, 1, 1, &[]).unwrap();
    let auth = ClientAuth::SaslSsl {
        mechanism: SaslMechanism::ScramSha256,
        user: "alice",
        password: SecuredCluster::password("alice").unwrap(),
    };
    let config = c.dir().join("reauth-producer.properties");
    let text: String = c
        .java_client_configs(auth)
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    std::fs::write(&config, text).unwrap();
    let sent = Instant::now();
    let out = c
        .run_java_tool(
            "org.apache.kafka.tools.VerifiableProducer",
            [
                "--bootstrap-server",
                c.sasl_ssl_bootstrap(),
                "--topic",
                &topic,
                "--max-messages",
                "12",
                "--throughput",
                "2",
                "--producer.config",
                config.to_str().unwrap(),
            ],
        )
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(sent.elapsed() > Duration::from_millis(2 * REAUTH_MS));
    assert_eq!(
        stdout.matches("\"producer_send_success\"").count(),
        12,
        "{stdout}"
    );
    let log = std::fs::read_to_string(c.log_path().unwrap()).unwrap();
    assert!(
        !log.contains("SaslAuthenticationException"),
        "unexpected authentication failure in the broker log"
    );
}
