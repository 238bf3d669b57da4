//! Avro in the Confluent wire format, through the pure-Rust apache-avro crate.

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;

use super::registry::{RegisteredSchema, SchemaRegistry, SchemaType};
use super::{SchemaError, frame, unframe};

/// Reads Avro records written by any Confluent-compatible serialiser.
#[derive(Debug, Clone)]
pub struct AvroDeserializer {
    registry: SchemaRegistry,
    reader_schema: Option<Schema>,
}

impl AvroDeserializer {
    /// Reads each record with the schema it was written with.
    pub fn new(registry: SchemaRegistry) -> Self {
        Self {
            registry,
            reader_schema: None,
        }
    }

    /// Resolves each record to `schema` (Avro schema resolution: fields added with defaults, fields
    /// removed, promotions), so the application sees one shape whatever version wrote the record.
    pub fn with_reader_schema(mut self, schema: Schema) -> Self {
        self.reader_schema = Some(schema);
        self
    }

    /// The registry client (and its cache).
    pub fn registry(&self) -> &SchemaRegistry {
        &self.registry
    }

    /// Decodes a framed value. The whole payload must be one datum of the writer's schema.
    pub async fn deserialize(&self, bytes: &[u8]) -> Result<Value, SchemaError> {
        let (id, payload) = unframe(bytes)?;
        let registered = self.registry.schema_by_id(id).await?;
        let writer = avro_schema(&registered)?;
        let mismatch = |reason: String| SchemaError::Mismatch { id, reason };
        let reader = GenericDatumReader::builder(writer)
            .maybe_reader_schema(self.reader_schema.as_ref())
            .build()
            .map_err(|e| mismatch(format!("the reader schema cannot read it: {e}")))?;
        let mut rest = payload;
        let value = reader
            .read_value(&mut rest)
            .map_err(|e| mismatch(format!("{e}")))?;
        if !rest.is_empty() {
            return Err(mismatch(format!(
                "{} bytes left after the record (written with another schema?)",
                rest.len()
            )));
        }
        Ok(value)
    }
}

/// The parsed Avro form of `registered`, made once.
fn avro_schema(registered: &RegisteredSchema) -> Result<&Schema, SchemaError> {
    registered.expect(&SchemaType::Avro)?;
    registered
        .avro
        .get_or_init(|| {
            Schema::parse_str(registered.text()).map_err(|e| SchemaError::SchemaParse {
                id: Some(registered.id()),
                schema_type: "AVRO",
                reason: e.to_string(),
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Writes Avro records of one schema under one subject (register once, then frame each record).
#[derive(Debug, Clone)]
pub struct AvroSerializer {
    registry: SchemaRegistry,
    subject: String,
    text: String,
    schema: Schema,
}

impl AvroSerializer {
    /// Records of `schema` (Avro JSON text), registered under `subject` (for a topic's values
    /// [`topic_value_subject`](super::topic_value_subject)). The schema is parsed here.
    pub fn new(
        registry: SchemaRegistry,
        subject: impl Into<String>,
        schema: &str,
    ) -> Result<Self, SchemaError> {
        let parsed = Schema::parse_str(schema).map_err(|e| SchemaError::SchemaParse {
            id: None,
            schema_type: "AVRO",
            reason: e.to_string(),
        })?;
        Ok(Self {
            registry,
            subject: subject.into(),
            text: schema.to_owned(),
            schema: parsed,
        })
    }

    /// The schema records are written with.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Encodes `value` framed with the schema's id (registered on first use).
    pub async fn serialize(&self, value: impl Into<Value>) -> Result<Vec<u8>, SchemaError> {
        let id = self
            .registry
            .register(&self.subject, SchemaType::Avro, &self.text)
            .await?;
        let payload = GenericDatumWriter::builder(&self.schema)
            .build()
            .and_then(|w| w.write_value_to_vec(value))
            .map_err(|e| SchemaError::Mismatch {
                id,
                reason: e.to_string(),
            })?;
        Ok(frame(id, &payload))
    }
}
