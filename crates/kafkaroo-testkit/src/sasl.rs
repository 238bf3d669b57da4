//! A fake SASL broker: one listener that speaks ApiVersions, SaslHandshake, SaslAuthenticate and an
//! empty Metadata, and misbehaves on purpose. The client's SASL code must refuse an impostor (a SCRAM
//! server signature the real password could not produce), report a refusal or a missing mechanism once,
//! and re-authenticate (KIP-368) without letting other requests through in the middle of it.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use kafkaroo_wire::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, RequestHeader,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafkaroo_wire::protocol::{Decodable, Message};
use kafkaroo_wire::{ErrorCode, FrameDecoder, StrBytes, encode_response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::error::Error;

/// How the fake broker answers authentication.
#[derive(Debug, Clone)]
pub enum SaslBehaviour {
    /// Accepts PLAIN with any credentials; a positive `session_lifetime_ms` asks for KIP-368
    /// re-authentication.
    AcceptPlain {
        /// The session lifetime returned to every authentication (0: none).
        session_lifetime_ms: i64,
    },
    /// Runs SCRAM-SHA-256 and SCRAM-SHA-512 up to the server-final message, then signs it with a key it
    /// does not have: what an impostor that never knew the password would send.
    ForgedScramSignature,
    /// Refuses every authentication with SASL_AUTHENTICATION_FAILED and this message.
    Refuse(String),
    /// Enables only these mechanisms (a handshake for another gets UNSUPPORTED_SASL_MECHANISM).
    Mechanisms(Vec<String>),
}

/// What the fake broker saw.
#[derive(Debug, Default, Clone)]
pub struct SaslLog {
    /// Completed authentications (first ones and re-authentications).
    pub authentications: usize,
    /// Requests other than SASL ones that arrived while an authentication was in progress (KIP-368
    /// forbids them; must stay empty).
    pub interleaved: Vec<String>,
    /// Metadata requests answered.
    pub metadata_requests: usize,
}

/// A running fake SASL broker. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct FakeSaslBroker {
    addr: String,
    log: Arc<Mutex<SaslLog>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSaslBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeSaslBroker {
    /// Starts listening on a loopback port.
    pub async fn start(behaviour: SaslBehaviour) -> Result<Self, Error> {
        let bind = |e: std::io::Error| Error::Bind(e.to_string());
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?.to_string();
        let log = Arc::new(Mutex::new(SaslLog::default()));
        let shared = log.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, behaviour.clone(), shared.clone()));
            }
        });
        Ok(Self { addr, log, task })
    }

    /// `host:port` to connect to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// What the broker saw so far.
    pub fn log(&self) -> SaslLog {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Per-connection SASL progress.
#[derive(Default)]
struct Exchange {
    mechanism: String,
    in_progress: bool,
    /// SCRAM: the combined nonce sent in server-first.
    nonce: Option<String>,
}

async fn serve(mut stream: TcpStream, behaviour: SaslBehaviour, log: Arc<Mutex<SaslLog>>) {
    let decoder = FrameDecoder::new(1 << 20);
    let mut buf = BytesMut::new();
    let mut exchange = Exchange::default();
    loop {
        let frame = match decoder.decode(&mut buf) {
            Ok(Some(frame)) => frame.freeze(),
            Ok(None) => match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            },
            Err(_) => return,
        };
        let Some(out) = answer(frame, &behaviour, &mut exchange, &log) else {
            return;
        };
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// The encoded answer to one request frame; `None` closes the connection.
fn answer(
    mut frame: Bytes,
    behaviour: &SaslBehaviour,
    exchange: &mut Exchange,
    log: &Mutex<SaslLog>,
) -> Option<BytesMut> {
    let api_key = i16::from_be_bytes([*frame.first()?, *frame.get(1)?]);
    let version = i16::from_be_bytes([*frame.get(2)?, *frame.get(3)?]);
    let key = ApiKey::try_from(api_key).ok()?;
    let header = RequestHeader::decode(&mut frame, key.request_header_version(version)).ok()?;
    let id = header.correlation_id;
    let mut out = BytesMut::new();
    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
    if exchange.in_progress && !matches!(key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate) {
        log.interleaved.push(format!("{key:?}"));
    }
    let encoded = match key {
        ApiKey::ApiVersions => {
            let version = version.min(3);
            let keys = [
                (ApiKey::ApiVersions, ApiVersionsRequest::VERSIONS.max.min(3)),
                (ApiKey::Metadata, 12),
                (ApiKey::SaslHandshake, 1),
                (ApiKey::SaslAuthenticate, 2),
            ];
            let response = ApiVersionsResponse::default().with_api_keys(
                keys.iter()
                    .map(|(k, max)| {
                        kafkaroo_wire::messages::api_versions_response::ApiVersion::default()
                            .with_api_key(*k as i16)
                            .with_min_version(0)
                            .with_max_version(*max)
                    })
                    .collect(),
            );
            encode_response(&mut out, id, version, &response)
        }
        ApiKey::Metadata => {
            MetadataRequest::decode(&mut frame, version).ok()?;
            log.metadata_requests += 1;
            encode_response(&mut out, id, version, &MetadataResponse::default())
        }
        ApiKey::SaslHandshake => {
            let request = SaslHandshakeRequest::decode(&mut frame, version).ok()?;
            let enabled: Vec<String> = match behaviour {
                SaslBehaviour::Mechanisms(m) => m.clone(),
                SaslBehaviour::ForgedScramSignature => vec!["SCRAM-SHA-256".into(), "SCRAM-SHA-512".into()],
                _ => vec!["PLAIN".into()],
            };
            let mechanism = request.mechanism.to_string();
            let code = if enabled.contains(&mechanism) {
                exchange.in_progress = true;
                exchange.mechanism = mechanism;
                exchange.nonce = None;
                0
            } else {
                ErrorCode::UNSUPPORTED_SASL_MECHANISM.0
            };
            let response = SaslHandshakeResponse::default()
                .with_error_code(code)
                .with_mechanisms(enabled.into_iter().map(StrBytes::from_string).collect());
            encode_response(&mut out, id, version, &response)
        }
        ApiKey::SaslAuthenticate => {
            let request = SaslAuthenticateRequest::decode(&mut frame, version).ok()?;
            let response = authenticate(behaviour, exchange, &request.auth_bytes, &mut log);
            encode_response(&mut out, id, version, &response)
        }
        _ => return None,
    };
    encoded.ok()?;
    Some(out)
}

fn authenticate(
    behaviour: &SaslBehaviour,
    exchange: &mut Exchange,
    client: &[u8],
    log: &mut SaslLog,
) -> SaslAuthenticateResponse {
    let done = |exchange: &mut Exchange, log: &mut SaslLog, lifetime: i64| {
        exchange.in_progress = false;
        log.authentications += 1;
        SaslAuthenticateResponse::default().with_session_lifetime_ms(lifetime)
    };
    match behaviour {
        SaslBehaviour::AcceptPlain { session_lifetime_ms } => done(exchange, log, *session_lifetime_ms),
        SaslBehaviour::Mechanisms(_) => done(exchange, log, 0),
        SaslBehaviour::Refuse(message) => {
            exchange.in_progress = false;
            SaslAuthenticateResponse::default()
                .with_error_code(ErrorCode::SASL_AUTHENTICATION_FAILED.0)
                .with_error_message(Some(StrBytes::from_string(message.clone())))
        }
        SaslBehaviour::ForgedScramSignature => {
            let text = String::from_utf8_lossy(client);
            match exchange.nonce.take() {
                None => {
                    // client-first: "n,,n=<user>,r=<nonce>"
                    let client_nonce = text.rsplit_once("r=").map_or("", |(_, n)| n);
                    let nonce = format!("{client_nonce}fakeserver");
                    let server_first = format!("r={nonce},s=c2FsdHNhbHRzYWx0,i=4096");
                    exchange.nonce = Some(nonce);
                    SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(server_first))
                }
                Some(_) => {
                    // client-final: answer with a signature made without the password.
                    let forged = "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
                    exchange.in_progress = false;
                    SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from_static(forged.as_bytes()))
                }
            }
        }
    }
}
