//! A Confluent-compatible schema registry for the tests, written from the registry's published REST
//! API (no runnable Confluent, Karapace or Apicurio registry can be installed here): `POST
//! /subjects/{subject}/versions` answers `{"id":N}` (the same id for the same type and text), `GET
//! /schemas/ids/{id}` answers `{"schema":"..."}` (with `"schemaType":"JSON"` for JSON schemas; AVRO is
//! left out, as Confluent does) or 404 `{"error_code":40403,"message":"Schema not found"}`. GETs are
//! answered chunked and POSTs with a Content-Length, so the client reads both. It counts GETs per id,
//! can require HTTP Basic credentials, and can answer the next GETs with 503 (a flaky registry).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use kafkaroo::schema::serde_json::{self, json};

#[derive(Default)]
struct State {
    /// `(schemaType, text)` by id - 1.
    schemas: Vec<(String, String)>,
    gets: HashMap<u32, usize>,
    /// `Authorization` value every request must carry.
    authorization: Option<String>,
    /// GETs still to answer with 503.
    failing_gets: usize,
}

/// A registry on a thread of its own, on a loopback port, until dropped.
pub struct Registry {
    url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    addr: std::net::SocketAddr,
}

impl Registry {
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Over TLS with the certificate chain and key of the PEM file `keystore` (an `https://` URL).
    pub fn start_tls(keystore: &std::path::Path) -> Self {
        use kafkaroo::rustls::pki_types::pem::PemObject;
        use kafkaroo::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(keystore)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(keystore).unwrap();
        let config =
            kafkaroo::rustls::ServerConfig::builder_with_provider(kafkaroo::security::crypto_provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
        Self::start_with(Some(Arc::new(config)))
    }

    fn start_with(tls: Option<Arc<kafkaroo::rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = match &tls {
                        None => serve(stream, &state),
                        Some(config) => match kafkaroo::rustls::ServerConnection::new(config.clone()) {
                            Ok(conn) => serve(kafkaroo::rustls::StreamOwned::new(conn, stream), &state),
                            Err(_) => continue,
                        },
                    };
                }
            })
        };
        Self {
            url: format!("{scheme}://{addr}"),
            state,
            stop,
            thread: Some(thread),
            addr,
        }
    }

    /// Requests must carry `Authorization: {value}` (else 401).
    pub fn require_authorization(&self, value: &str) {
        self.state.lock().unwrap().authorization = Some(value.to_owned());
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Registers a schema directly (as another producer would have), returning its id.
    pub fn add(&self, schema_type: &str, text: &str) -> u32 {
        add(&mut self.state.lock().unwrap(), schema_type, text)
    }

    /// GETs of schema `id` so far.
    pub fn gets(&self, id: u32) -> usize {
        self.state.lock().unwrap().gets.get(&id).copied().unwrap_or(0)
    }

    /// The next `n` GETs are answered 503.
    pub fn fail_next_gets(&self, n: usize) {
        self.state.lock().unwrap().failing_gets = n;
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A URL where nothing listens (a port just bound and released).
pub fn unreachable_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

fn add(state: &mut State, schema_type: &str, text: &str) -> u32 {
    let entry = (schema_type.to_owned(), text.to_owned());
    if let Some(i) = state.schemas.iter().position(|s| *s == entry) {
        return i as u32 + 1;
    }
    state.schemas.push(entry);
    state.schemas.len() as u32
}

/// Answers one request and closes the connection.
fn serve(stream: impl Read + Write, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length = 0;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.trim().parse().unwrap_or(0);
        } else if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.trim().to_owned());
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, answer, chunked) = answer(&mut state.lock().unwrap(), method, path, &body, authorization);
    let out = reader.get_mut();
    let reason = if status == 200 { "OK" } else { "Error" };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nConnection: close\r\n"
    );
    let text = answer.to_string();
    if chunked {
        let (a, b) = text.split_at(text.len() / 2);
        write!(
            out,
            "{head}Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        )?;
    } else {
        write!(out, "{head}Content-Length: {}\r\n\r\n{text}", text.len())?;
    }
    out.flush()
}

fn answer(
    state: &mut State,
    method: &str,
    path: &str,
    body: &[u8],
    authorization: Option<String>,
) -> (u16, serde_json::Value, bool) {
    let error =
        |status, code: i64, message: &str| (status, json!({"error_code": code, "message": message}), false);
    if state.authorization.is_some() && state.authorization != authorization {
        return error(401, 40101, "Unauthorized");
    }
    if method == "GET"
        && let Some(id) = path.strip_prefix("/schemas/ids/")
    {
        let Ok(id) = id.parse::<u32>() else {
            return error(404, 40403, "Schema not found");
        };
        *state.gets.entry(id).or_default() += 1;
        if state.failing_gets > 0 {
            state.failing_gets -= 1;
            return error(503, 50003, "Error while forwarding the request to the leader");
        }
        let Some((schema_type, text)) = state.schemas.get(id.wrapping_sub(1) as usize) else {
            return error(404, 40403, "Schema not found");
        };
        let mut answer = json!({ "schema": text });
        if schema_type != "AVRO" {
            answer["schemaType"] = schema_type.as_str().into();
        }
        return (200, answer, true);
    }
    if method == "POST"
        && let Some(subject) = path
            .strip_prefix("/subjects/")
            .and_then(|p| p.strip_suffix("/versions"))
        && !subject.is_empty()
    {
        let Ok(request) = serde_json::from_slice::<serde_json::Value>(body) else {
            return error(422, 42201, "Invalid schema");
        };
        let Some(text) = request["schema"].as_str() else {
            return error(422, 42201, "Invalid schema");
        };
        let schema_type = request["schemaType"].as_str().unwrap_or("AVRO");
        let id = add(state, schema_type, text);
        return (200, json!({ "id": id }), false);
    }
    error(404, 404, "HTTP 404 Not Found")
}

/// The Avro schema of the orders the schema-registry tests and `examples/order_service.rs` use.
pub const ORDER_AVRO: &str = r#"{"type":"record","name":"Order","namespace":"kafkaroo.test","fields":[
  {"name":"id","type":"long"},
  {"name":"customer","type":"string"},
  {"name":"amount","type":"double"},
  {"name":"note","type":["null","string"],"default":null}]}"#;

/// Order `id` as an Avro value of [`ORDER_AVRO`].
pub fn order(id: i64, customer: &str) -> kafkaroo::schema::apache_avro::types::Value {
    use kafkaroo::schema::apache_avro::types::Value;
    let note = if id % 2 == 0 {
        Value::Union(1, Box::new(Value::String(format!("note {id}"))))
    } else {
        Value::Union(0, Box::new(Value::Null))
    };
    Value::Record(vec![
        ("id".into(), Value::Long(id)),
        ("customer".into(), Value::String(customer.into())),
        ("amount".into(), Value::Double(id as f64 * 1.5)),
        ("note".into(), note),
    ])
}

/// A record to produce: partition, key, value, headers.
pub type Framed = (i32, Vec<u8>, Vec<u8>, Vec<(String, Vec<u8>)>);

/// Produces `records` through the kafkaroo producer (acknowledged by the broker).
pub async fn produce_all(bootstrap: &str, topic: &str, records: &[Framed]) {
    use kafkaroo::producer::{Producer, ProducerConfig, ProducerRecord};
    let producer =
        Producer::new(ProducerConfig::from_properties([("bootstrap.servers", bootstrap)]).unwrap())
            .await
            .unwrap();
    let mut pending = Vec::new();
    for (partition, key, value, headers) in records {
        let headers: Vec<(&str, Option<&[u8]>)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), Some(v.as_slice())))
            .collect();
        let record = ProducerRecord::new(topic)
            .partition(*partition)
            .key(key)
            .value(value)
            .headers(&headers);
        pending.push(producer.send(record).await.unwrap());
    }
    for delivery in pending {
        delivery.await.unwrap();
    }
    producer.close(std::time::Duration::from_secs(5)).await;
}
