//! JSON Schema in the Confluent wire format: the payload is UTF-8 JSON, checked against the
//! registered schema by [`json_check`](super::json_check).

use serde_json::Value;

use super::json_check::check;
use super::registry::{RegisteredSchema, SchemaRegistry, SchemaType};
use super::{SchemaError, frame, unframe};

/// Reads JSON records written by a Confluent-compatible JSON Schema serialiser.
///
/// The record is checked against the schema for these keywords (others are not checked): `type`,
/// `enum`, `const`, `properties`, `required`, `additionalProperties`, `items` (one schema),
/// `minItems`, `maxItems`, `minLength`, `maxLength` (in characters), `minimum`, `maximum`,
/// `exclusiveMinimum`, `exclusiveMaximum` (numbers), `allOf`, `anyOf`, `oneOf`, `not`, and `$ref` to
/// a definition in the same schema (`#/definitions/...`, `#/$defs/...`, `#`).
#[derive(Debug, Clone)]
pub struct JsonDeserializer {
    registry: SchemaRegistry,
}

impl JsonDeserializer {
    /// Records checked against the schema they name.
    pub fn new(registry: SchemaRegistry) -> Self {
        Self { registry }
    }

    /// The registry client (and its cache).
    pub fn registry(&self) -> &SchemaRegistry {
        &self.registry
    }

    /// Parses a framed value and checks it against its schema.
    pub async fn deserialize(&self, bytes: &[u8]) -> Result<Value, SchemaError> {
        let (id, payload) = unframe(bytes)?;
        let registered = self.registry.schema_by_id(id).await?;
        let schema = json_schema(&registered)?;
        let value: Value = serde_json::from_slice(payload).map_err(|e| SchemaError::Mismatch {
            id,
            reason: format!("the payload is not JSON: {e}"),
        })?;
        check(schema, &value).map_err(|reason| SchemaError::Mismatch { id, reason })?;
        Ok(value)
    }
}

/// The parsed form of `registered`, made once.
fn json_schema(registered: &RegisteredSchema) -> Result<&Value, SchemaError> {
    registered.expect(&SchemaType::Json)?;
    registered
        .json
        .get_or_init(|| parse(registered.text(), Some(registered.id())))
        .as_ref()
        .map_err(Clone::clone)
}

/// A JSON Schema's text parsed: JSON, and an object or a boolean.
fn parse(text: &str, id: Option<u32>) -> Result<Value, SchemaError> {
    let failed = |reason: String| SchemaError::SchemaParse {
        id,
        schema_type: "JSON",
        reason,
    };
    let schema: Value = serde_json::from_str(text).map_err(|e| failed(e.to_string()))?;
    if !schema.is_object() && !schema.is_boolean() {
        return Err(failed("a JSON Schema is an object or a boolean".into()));
    }
    Ok(schema)
}

/// Writes JSON records of one schema under one subject, checked against it before they are sent.
#[derive(Debug, Clone)]
pub struct JsonSerializer {
    registry: SchemaRegistry,
    subject: String,
    text: String,
    schema: Value,
}

impl JsonSerializer {
    /// Records of the JSON Schema `schema`, registered under `subject`.
    pub fn new(
        registry: SchemaRegistry,
        subject: impl Into<String>,
        schema: &str,
    ) -> Result<Self, SchemaError> {
        Ok(Self {
            registry,
            subject: subject.into(),
            text: schema.to_owned(),
            schema: parse(schema, None)?,
        })
    }

    /// Checks `value` and encodes it framed with the schema's id (registered on first use).
    pub async fn serialize(&self, value: &Value) -> Result<Vec<u8>, SchemaError> {
        let id = self
            .registry
            .register(&self.subject, SchemaType::Json, &self.text)
            .await?;
        check(&self.schema, value).map_err(|reason| SchemaError::Mismatch { id, reason })?;
        let payload = serde_json::to_vec(value).map_err(|e| SchemaError::Mismatch {
            id,
            reason: e.to_string(),
        })?;
        Ok(frame(id, &payload))
    }
}
