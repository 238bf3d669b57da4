//! The registry client: schemas by id, cached forever (an id never changes its schema), and
//! registration of a serialiser's schema under a subject, cached by subject and text.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use kafkaroo_net::security::TlsOptions;
use tokio::sync::OnceCell;

use super::SchemaError;
use super::http::{self, Endpoint, HttpError};

/// The registry's error code for an id it does not know.
const SCHEMA_NOT_FOUND: i64 = 40403;

/// Where the registry is and how to reach it. Its `Debug` never shows the credentials.
#[derive(Clone)]
pub struct RegistryConfig {
    endpoints: Vec<Endpoint>,
    authorization: Option<String>,
    tls: Option<Arc<rustls::ClientConfig>>,
    request_timeout: Duration,
}

impl fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryConfig")
            .field("urls", &self.urls())
            .field("basic_auth", &self.authorization.is_some())
            .field("tls", &self.tls.is_some())
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl RegistryConfig {
    /// From Confluent's property names (see the [module docs](super)). An unknown property is an error.
    pub fn from_properties<K: AsRef<str>, V: AsRef<str>>(
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, SchemaError> {
        let mut urls = None;
        let mut user_info = None;
        let mut tls = TlsOptions::default();
        for (key, value) in properties {
            let (key, value) = (key.as_ref(), value.as_ref());
            match key {
                "schema.registry.url" => urls = Some(value.to_owned()),
                "basic.auth.user.info" | "schema.registry.basic.auth.user.info" => {
                    user_info = Some(value.to_owned()).filter(|v| !v.is_empty());
                }
                "basic.auth.credentials.source" | "schema.registry.basic.auth.credentials.source" => {
                    if !value.eq_ignore_ascii_case("USER_INFO") {
                        return Err(SchemaError::Config(format!(
                            "{key}={value} is not supported; use USER_INFO with basic.auth.user.info"
                        )));
                    }
                }
                _ => {
                    let handled = match key.strip_prefix("schema.registry.") {
                        Some(ssl) if ssl.starts_with("ssl.") => tls
                            .set(ssl, value)
                            .map_err(|e| SchemaError::Config(format!("{key}: {e}")))?,
                        _ => false,
                    };
                    if !handled {
                        return Err(SchemaError::Config(format!(
                            "unknown property {key:?}; known: schema.registry.url, basic.auth.user.info, basic.auth.credentials.source, schema.registry.ssl.*"
                        )));
                    }
                }
            }
        }
        let urls = urls.ok_or_else(|| {
            SchemaError::Config(
                "schema.registry.url is not set; set it to the registry's http(s):// URL".into(),
            )
        })?;
        let endpoints = urls
            .split(',')
            .filter(|u| !u.trim().is_empty())
            .map(Endpoint::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SchemaError::Config(format!("schema.registry.url: {e}")))?;
        if endpoints.is_empty() {
            return Err(SchemaError::Config("schema.registry.url is empty".into()));
        }
        if let Some(info) = &user_info
            && !info.contains(':')
        {
            return Err(SchemaError::Config(
                "basic.auth.user.info must be user:password (no colon found)".into(),
            ));
        }
        let tls = if endpoints.iter().any(|e| e.tls) {
            Some(
                tls.build()
                    .map_err(|e| SchemaError::Config(format!("schema.registry.ssl.*: {e}")))?,
            )
        } else {
            None
        };
        Ok(Self {
            endpoints,
            authorization: user_info.as_deref().map(http::basic_authorization),
            tls,
            request_timeout: Duration::from_secs(30),
        })
    }

    /// How long one request may take, connecting included (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// A ready rustls config for `https://` URLs instead of the `schema.registry.ssl.*` properties.
    pub fn tls_client_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// The registry URLs, in the order they are tried.
    pub fn urls(&self) -> Vec<&str> {
        self.endpoints.iter().map(|e| e.url.as_str()).collect()
    }
}

/// The `schemaType` of a registered schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SchemaType {
    /// `AVRO` (also when the registry leaves `schemaType` out).
    Avro,
    /// `JSON`: JSON Schema.
    Json,
    /// Another type (`PROTOBUF`...), which kafkaroo does not decode.
    Other(String),
}

impl SchemaType {
    fn parse(name: Option<&str>) -> Self {
        match name {
            None | Some("AVRO") => Self::Avro,
            Some("JSON") => Self::Json,
            Some(other) => Self::Other(other.to_owned()),
        }
    }

    /// The registry's name for it.
    pub fn name(&self) -> &str {
        match self {
            Self::Avro => "AVRO",
            Self::Json => "JSON",
            Self::Other(name) => name,
        }
    }
}

/// A schema as the registry has it, with its parsed form made once on first use.
#[derive(Debug)]
pub struct RegisteredSchema {
    id: u32,
    schema_type: SchemaType,
    text: String,
    pub(super) avro: OnceLock<Result<apache_avro::Schema, SchemaError>>,
    pub(super) json: OnceLock<Result<serde_json::Value, SchemaError>>,
}

impl RegisteredSchema {
    /// Its id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Its type.
    pub fn schema_type(&self) -> &SchemaType {
        &self.schema_type
    }

    /// Its text, as registered.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Fails unless this schema is of type `expected`.
    pub(super) fn expect(&self, expected: &SchemaType) -> Result<(), SchemaError> {
        if &self.schema_type == expected {
            return Ok(());
        }
        Err(SchemaError::WrongSchemaType {
            id: self.id,
            expected: if *expected == SchemaType::Avro {
                "AVRO"
            } else {
                "JSON"
            },
            found: self.schema_type.name().to_owned(),
        })
    }
}

/// A registry client; cheap to clone (clones share the cache).
#[derive(Debug, Clone)]
pub struct SchemaRegistry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: RegistryConfig,
    /// One cell per id asked for: concurrent lookups of an id make one request, and a failed lookup
    /// leaves the cell empty for the next try.
    by_id: Mutex<HashMap<u32, Arc<OnceCell<Arc<RegisteredSchema>>>>>,
    /// Ids of schemas registered here, by subject, type and text.
    registered: Mutex<HashMap<(String, SchemaType, String), u32>>,
}

impl SchemaRegistry {
    /// A client with an empty cache.
    pub fn new(config: RegistryConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                by_id: Mutex::new(HashMap::new()),
                registered: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }

    /// The schema with id `id`: from the cache, or `GET /schemas/ids/{id}` once.
    pub async fn schema_by_id(&self, id: u32) -> Result<Arc<RegisteredSchema>, SchemaError> {
        let cell = self
            .inner
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id)
            .or_default()
            .clone();
        let result = cell.get_or_try_init(|| self.fetch(id)).await.cloned();
        if result.is_err() {
            // Not kept for an id that failed (records with random ids must not grow the map).
            let mut by_id = self.inner.by_id.lock().unwrap_or_else(|p| p.into_inner());
            if by_id.get(&id).is_some_and(|c| c.get().is_none()) {
                by_id.remove(&id);
            }
        }
        result
    }

    async fn fetch(&self, id: u32) -> Result<Arc<RegisteredSchema>, SchemaError> {
        let request = format!("/schemas/ids/{id}");
        let (url, answer) = self.call("GET", &request, None).await?;
        match answer {
            Answer::Ok(json) => {
                let text = json
                    .get("schema")
                    .and_then(|s| s.as_str())
                    .ok_or_else(|| malformed(&url, &request, "no \"schema\" text"))?;
                let schema_type = SchemaType::parse(json.get("schemaType").and_then(|t| t.as_str()));
                tracing::debug!(id, url, schema_type = schema_type.name(), "schema fetched");
                Ok(Arc::new(RegisteredSchema {
                    id,
                    schema_type,
                    text: text.to_owned(),
                    avro: OnceLock::new(),
                    json: OnceLock::new(),
                }))
            }
            Answer::Error {
                error_code: SCHEMA_NOT_FOUND,
                ..
            }
            | Answer::Error { status: 404, .. } => Err(SchemaError::UnknownSchemaId { id, url }),
            Answer::Error {
                status,
                error_code,
                message,
            } => Err(SchemaError::RegistryRejected {
                url,
                request: format!("GET {request}"),
                status,
                error_code,
                message,
            }),
        }
    }

    /// The id of `text` (of `schema_type`) under `subject`: registered once (`POST
    /// /subjects/{subject}/versions`; the registry answers an existing schema's id) and then cached.
    pub async fn register(
        &self,
        subject: &str,
        schema_type: SchemaType,
        text: &str,
    ) -> Result<u32, SchemaError> {
        let key = (subject.to_owned(), schema_type, text.to_owned());
        if let Some(id) = self
            .inner
            .registered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(*id);
        }
        let mut body = serde_json::json!({ "schema": text });
        if key.1 != SchemaType::Avro {
            body["schemaType"] = key.1.name().into();
        }
        let request = format!("/subjects/{}/versions", percent_encode(subject));
        let (url, answer) = self
            .call("POST", &request, Some(body.to_string().as_bytes()))
            .await?;
        let id = match answer {
            Answer::Ok(json) => json
                .get("id")
                .and_then(|i| i.as_u64())
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| malformed(&url, &request, "no \"id\""))?,
            Answer::Error {
                status,
                error_code,
                message,
            } => {
                return Err(SchemaError::RegistryRejected {
                    url,
                    request: format!("POST {request}"),
                    status,
                    error_code,
                    message,
                });
            }
        };
        tracing::debug!(id, subject, "schema registered");
        self.inner
            .registered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, id);
        Ok(id)
    }

    /// One request, to each URL in turn while unreachable. Returns the URL that answered.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(String, Answer), SchemaError> {
        let config = &self.inner.config;
        let mut last = None;
        for endpoint in &config.endpoints {
            let result = http::request(
                endpoint,
                config.tls.as_ref(),
                config.authorization.as_deref(),
                method,
                path,
                body,
                config.request_timeout,
            )
            .await;
            count_request(method, &result);
            match result {
                Ok(response) => return Ok((endpoint.url.clone(), Answer::of(response))),
                Err(HttpError::Unreachable(reason)) => {
                    tracing::debug!(url = endpoint.url, reason, "schema registry unreachable");
                    last = Some(SchemaError::RegistryUnreachable {
                        url: endpoint.url.clone(),
                        reason,
                    });
                }
                Err(HttpError::Tls(reason)) => {
                    return Err(SchemaError::Config(format!(
                        "TLS to {} failed: {reason} (set schema.registry.ssl.*)",
                        endpoint.url
                    )));
                }
                Err(HttpError::Malformed(reason)) => {
                    return Err(malformed(&endpoint.url, path, &reason));
                }
            }
        }
        Err(last.expect("at least one endpoint"))
    }
}

/// Counts a request in `messaging.kafka.schema_registry.requests`.
fn count_request(method: &str, result: &Result<http::Response, HttpError>) {
    let outcome = match result {
        Ok(response) if (200..300).contains(&response.status) => "ok",
        Ok(_) => "error",
        Err(HttpError::Unreachable(_) | HttpError::Tls(_)) => "unreachable",
        Err(HttpError::Malformed(_)) => "malformed",
    };
    #[cfg(feature = "metrics")]
    metrics::counter!(
        crate::telemetry::SCHEMA_REGISTRY_REQUESTS,
        "messaging.system" => "kafka",
        "http.request.method" => method.to_owned(),
        "outcome" => outcome,
    )
    .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (method, outcome);
}

/// A registry answer: success with its JSON, or its error.
enum Answer {
    Ok(serde_json::Value),
    Error {
        status: u16,
        error_code: i64,
        message: String,
    },
}

impl Answer {
    fn of(response: http::Response) -> Self {
        let json: Option<serde_json::Value> = serde_json::from_slice(&response.body).ok();
        if (200..300).contains(&response.status)
            && let Some(json) = json
        {
            return Self::Ok(json);
        }
        let field = |name: &str| json.as_ref().and_then(|j| j.get(name));
        Self::Error {
            status: response.status,
            error_code: field("error_code").and_then(|c| c.as_i64()).unwrap_or(0),
            message: field("message").and_then(|m| m.as_str()).map_or_else(
                || String::from_utf8_lossy(&response.body[..response.body.len().min(200)]).into_owned(),
                str::to_owned,
            ),
        }
    }
}

/// An answer that is not what the REST API promises.
fn malformed(url: &str, request: &str, reason: &str) -> SchemaError {
    SchemaError::RegistryRejected {
        url: url.to_owned(),
        request: request.to_owned(),
        status: 0,
        error_code: 0,
        message: format!(
            "not a schema-registry answer ({reason}): is schema.registry.url a Confluent-compatible registry's URL?"
        ),
    }
}

/// A subject as one path segment.
fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_checked_with_the_property_named() {
        let c = RegistryConfig::from_properties([
            ("schema.registry.url", "http://a:8081, http://b:8081/prefix"),
            ("basic.auth.user.info", "u:p"),
            ("basic.auth.credentials.source", "USER_INFO"),
        ])
        .unwrap();
        assert_eq!(c.urls(), ["http://a:8081", "http://b:8081/prefix"]);
        assert!(!format!("{c:?}").contains("u:p"), "no credentials in Debug");
        let err = |props: &[(&str, &str)]| {
            RegistryConfig::from_properties(props.iter().copied())
                .unwrap_err()
                .to_string()
        };
        assert!(err(&[]).contains("schema.registry.url is not set"));
        assert!(err(&[("schema.registry.url", "http://a"), ("bogus", "1")]).contains("\"bogus\""));
        assert!(
            err(&[
                ("schema.registry.url", "http://a"),
                ("basic.auth.user.info", "nocolon")
            ])
            .contains("user:password")
        );
        assert!(
            err(&[
                ("schema.registry.url", "http://a"),
                ("basic.auth.credentials.source", "URL")
            ])
            .contains("USER_INFO")
        );
        assert!(err(&[("schema.registry.url", "ftp://a")]).contains("http://"));
    }

    #[tokio::test]
    async fn a_failed_lookup_is_neither_cached_nor_kept() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let registry =
            SchemaRegistry::new(RegistryConfig::from_properties([("schema.registry.url", url)]).unwrap());
        for id in 1..=3 {
            let e = registry.schema_by_id(id).await.unwrap_err();
            assert!(e.is_retriable(), "{e}");
        }
        assert!(registry.inner.by_id.lock().unwrap().is_empty());
    }

    /// Records every counter registration: name and labels.
    #[cfg(feature = "metrics")]
    #[derive(Default)]
    struct Registrations(Mutex<Vec<Registration>>);

    /// A counter's name and labels.
    #[cfg(feature = "metrics")]
    type Registration = (String, Vec<(String, String)>);

    #[cfg(feature = "metrics")]
    impl metrics::Recorder for Registrations {
        fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            self.0.lock().unwrap().push((key.name().to_owned(), labels));
            metrics::Counter::noop()
        }
        fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }
        fn register_histogram(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn each_request_is_counted_with_its_outcome() {
        let recorder = Registrations::default();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let props = [("schema.registry.url", format!("http://127.0.0.1:{port}"))];
        let registry = SchemaRegistry::new(RegistryConfig::from_properties(props).unwrap());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        metrics::with_local_recorder(&recorder, || runtime.block_on(registry.schema_by_id(1))).unwrap_err();
        let seen = recorder.0.lock().unwrap();
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            *seen,
            [(
                crate::telemetry::SCHEMA_REGISTRY_REQUESTS.to_owned(),
                labels(&[
                    ("messaging.system", "kafka"),
                    ("http.request.method", "GET"),
                    ("outcome", "unreachable")
                ])
            )]
        );
    }

    #[test]
    fn subjects_are_percent_encoded() {
        assert_eq!(percent_encode("orders-value"), "orders-value");
        assert_eq!(percent_encode("a/b c"), "a%2Fb%20c");
    }
}
