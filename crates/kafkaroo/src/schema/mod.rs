//! Confluent schema-registry serialisers and deserialisers (feature `schema-registry`, off by default).
//!
//! A record value in the Confluent wire format is a magic byte `0`, the schema id as a 4-byte
//! big-endian integer, then the payload: Avro binary ([`AvroDeserializer`], [`AvroSerializer`]) or
//! UTF-8 JSON ([`JsonDeserializer`], [`JsonSerializer`]). The schema is fetched from the registry by id
//! (`GET /schemas/ids/{id}`) and cached forever by id, as Confluent's client does: an id never names
//! another schema. The serialisers register their schema under a subject (`POST
//! /subjects/{subject}/versions`, idempotent) once and cache the id.
//!
//! ```no_run
//! # async fn demo(record: &kafkaroo::ConsumerRecord) -> Result<(), kafkaroo::schema::SchemaError> {
//! use kafkaroo::schema::{AvroDeserializer, RegistryConfig, SchemaRegistry};
//!
//! let registry = SchemaRegistry::new(RegistryConfig::from_properties([
//!     ("schema.registry.url", "http://127.0.0.1:8081"),
//!     ("basic.auth.user.info", "user:secret"),
//! ])?);
//! let avro = AvroDeserializer::new(registry);
//! let value = avro.deserialize(record.value().unwrap_or_default()).await?;
//! println!("{value:?}");
//! # Ok(()) }
//! ```
//!
//! Properties (Confluent's names): `schema.registry.url` (one or more URLs, comma-separated, tried in
//! order while unreachable; a path after the host is kept, for registries under a prefix),
//! `basic.auth.user.info` (`user:password`, sent as HTTP Basic; `basic.auth.credentials.source` may
//! only be `USER_INFO`), and for `https://` URLs `schema.registry.ssl.*`: the consumer's `ssl.*`
//! properties with that prefix (CA, client certificate, verification switches), through the same
//! rustls setup and crypto provider as the broker connections.
//!
//! The HTTP client is our own minimal HTTP/1.1 (one request per connection; `Content-Length`,
//! chunked or close-delimited answers): no C compiler and no HTTP stack to pull in.
//!
//! JSON Schema: the payload must be JSON, and is checked against the registered schema for the
//! keywords listed on [`JsonDeserializer`] (a full validator would more than double the dependency
//! tree); other keywords are not checked. Avro: schema references (a schema naming types registered
//! under other subjects) are not resolved; such a schema is a [`SchemaError::SchemaParse`].
//!
//! Errors ([`SchemaError`]) say whether a record is poison (not the wire format, an unknown id, a
//! schema that does not parse, a record that does not match: dead-letter it), the registry is
//! unreachable (retriable: try the record again), or the configuration is wrong (fatal: stop).
//! [`SchemaError::verdict`] turns that into a [`Verdict`](crate::patterns::Verdict) for
//! [`FailureHandling`](crate::patterns::FailureHandling).

mod avro;
mod http;
mod json;
mod json_check;
mod registry;

pub use avro::{AvroDeserializer, AvroSerializer};
pub use json::{JsonDeserializer, JsonSerializer};
pub use registry::{RegisteredSchema, RegistryConfig, SchemaRegistry, SchemaType};

/// The apache-avro crate kafkaroo decodes with (for its `Value`, `Schema` and `from_value`).
pub use apache_avro;
/// The serde_json crate kafkaroo decodes with (for its `Value`).
pub use serde_json;

/// The first byte of a record in the Confluent wire format.
pub const MAGIC_BYTE: u8 = 0;

/// The subject of a topic's record values under Confluent's default `TopicNameStrategy`.
pub fn topic_value_subject(topic: &str) -> String {
    format!("{topic}-value")
}

/// The subject of a topic's record keys under `TopicNameStrategy`.
pub fn topic_key_subject(topic: &str) -> String {
    format!("{topic}-key")
}

/// Splits a framed value into its schema id and payload.
pub fn unframe(bytes: &[u8]) -> Result<(u32, &[u8]), SchemaError> {
    let Some((&magic, rest)) = bytes.split_first() else {
        return Err(SchemaError::NotWireFormat {
            reason: "the value is empty (or null)".into(),
        });
    };
    if magic != MAGIC_BYTE {
        return Err(SchemaError::NotWireFormat {
            reason: format!("its first byte is 0x{magic:02x}, not the magic byte 0x00"),
        });
    }
    let Some((id, payload)) = rest.split_first_chunk::<4>() else {
        return Err(SchemaError::NotWireFormat {
            reason: format!(
                "it is {} bytes long, shorter than the 5-byte header (magic byte and schema id)",
                bytes.len()
            ),
        });
    };
    Ok((u32::from_be_bytes(*id), payload))
}

/// `payload` framed with schema `id`.
pub fn frame(id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Why a value could not be serialised or deserialised. Each names its cause once and what to change.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The value is not in the Confluent wire format (poison).
    #[error(
        "the value is not in the Confluent schema-registry wire format: {reason}; it was written without a schema-registry serialiser (or is a tombstone): produce it with one, or read the topic without a deserialiser"
    )]
    NotWireFormat {
        /// What is wrong with it.
        reason: String,
    },
    /// The registry does not know the id (HTTP 404, error code 40403; poison).
    #[error(
        "schema id {id} is not registered at {url} (error code 40403): the record was written against another registry, or its schema was deleted; point schema.registry.url at the producer's registry"
    )]
    UnknownSchemaId {
        /// The id in the record.
        id: u32,
        /// The registry asked.
        url: String,
    },
    /// No registry answered (retriable: the record can be tried again).
    #[error("the schema registry at {url} is unreachable: {reason}")]
    RegistryUnreachable {
        /// The last URL tried.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The registry answered with an error (retriable for 5xx, 408 and 429; fatal for 401 and 403).
    #[error("the schema registry at {url} refused {request}: HTTP {status}, error code {error_code}: {message}{hint}", hint = rejection_hint(*status))]
    RegistryRejected {
        /// The registry.
        url: String,
        /// The request (`GET /schemas/ids/7`).
        request: String,
        /// The HTTP status.
        status: u16,
        /// The registry's `error_code` (0 when the answer had none).
        error_code: i64,
        /// The registry's `message` (or the answer's text).
        message: String,
    },
    /// The registered schema does not parse (poison: its records cannot be read with it).
    #[error("schema {id} does not parse as {schema_type}: {reason}; fix the schema in the registry (schema references are not supported)", id = id.map_or("(not registered yet)".to_owned(), |id| id.to_string()))]
    SchemaParse {
        /// The schema id (`None` for a serialiser's own schema).
        id: Option<u32>,
        /// `AVRO` or `JSON`.
        schema_type: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// The schema is of another type than the deserialiser reads (poison).
    #[error("schema {id} is a {found} schema, not {expected}: use the {found} deserialiser for this topic")]
    WrongSchemaType {
        /// The schema id.
        id: u32,
        /// What the deserialiser reads.
        expected: &'static str,
        /// The registered `schemaType`.
        found: String,
    },
    /// The record does not match its schema (poison when reading; the application's bug when writing).
    #[error("the record does not match schema {id}: {reason}")]
    Mismatch {
        /// The schema id.
        id: u32,
        /// What does not match.
        reason: String,
    },
    /// A property is missing or wrong, or TLS to the registry cannot work as configured (fatal).
    #[error("schema registry configuration: {0}")]
    Config(String),
}

fn rejection_hint(status: u16) -> &'static str {
    match status {
        401 => "; set basic.auth.user.info to the registry's user:password",
        403 => "; the user of basic.auth.user.info lacks the permission for this request",
        _ => "",
    }
}

impl SchemaError {
    /// Another try may work: the registry was unreachable or answered 5xx, 408 or 429.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::RegistryUnreachable { .. } => true,
            Self::RegistryRejected { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            _ => false,
        }
    }

    /// Only a change of configuration helps: every record would fail the same way.
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::Config(_) => true,
            Self::RegistryRejected { status, .. } => matches!(status, 401 | 403),
            _ => false,
        }
    }

    /// The record itself is at fault (neither retriable nor fatal): dead-letter it.
    pub fn is_poison(&self) -> bool {
        !self.is_retriable() && !self.is_fatal()
    }

    /// For [`FailureHandling`](crate::patterns::FailureHandling): poison records are dead-lettered,
    /// everything else is retried. A fatal error is retried too, so that its record is not written off
    /// for a configuration mistake: check [`is_fatal`](Self::is_fatal) and stop the consumer.
    #[cfg(feature = "producer")]
    pub fn verdict(&self) -> crate::patterns::Verdict {
        if self.is_poison() {
            crate::patterns::Verdict::DeadLetter
        } else {
            crate::patterns::Verdict::Retry
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_round_trips_and_names_what_is_wrong() {
        let framed = frame(0x0102_0304, b"payload");
        assert_eq!(&framed[..5], &[0, 1, 2, 3, 4]);
        assert_eq!(unframe(&framed).unwrap(), (0x0102_0304, &b"payload"[..]));
        assert_eq!(unframe(&frame(7, b"")).unwrap(), (7, &b""[..]));
        let wrong = unframe(b"{\"a\":1}").unwrap_err();
        assert!(wrong.to_string().contains("first byte is 0x7b"), "{wrong}");
        let short = unframe(&[0, 0, 1]).unwrap_err();
        assert!(short.to_string().contains("3 bytes long"), "{short}");
        assert!(unframe(&[]).unwrap_err().to_string().contains("empty"));
        assert!(short.is_poison() && !short.is_retriable() && !short.is_fatal());
    }

    #[test]
    fn errors_sort_into_retriable_fatal_and_poison() {
        let rejected = |status| SchemaError::RegistryRejected {
            url: "http://r".into(),
            request: "GET /schemas/ids/1".into(),
            status,
            error_code: 0,
            message: String::new(),
        };
        assert!(rejected(503).is_retriable());
        assert!(rejected(401).is_fatal());
        assert!(rejected(401).to_string().contains("basic.auth.user.info"));
        assert!(rejected(422).is_poison());
        let down = SchemaError::RegistryUnreachable {
            url: "http://r".into(),
            reason: "refused".into(),
        };
        assert!(down.is_retriable() && !down.is_poison());
        let unknown = SchemaError::UnknownSchemaId {
            id: 9,
            url: "http://r".into(),
        };
        assert!(unknown.is_poison());
        assert!(unknown.to_string().contains("schema.registry.url"));
    }
}
