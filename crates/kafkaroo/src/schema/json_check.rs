//! The JSON Schema keywords kafkaroo checks (listed on [`JsonDeserializer`](super::JsonDeserializer)):
//! the structural ones a record's consumer relies on. Formats, patterns and remote references are not
//! checked; a full validator would more than double the dependency tree of this feature.

use serde_json::{Map, Value};

/// How deep `$ref`s may nest before the schema is taken as circular for this value.
const MAX_DEPTH: usize = 64;

/// `Ok` when `value` satisfies `schema`, else the first violation with its JSON pointer.
pub(crate) fn check(schema: &Value, value: &Value) -> Result<(), String> {
    Checker { root: schema }.check(schema, value, "", 0)
}

struct Checker<'a> {
    root: &'a Value,
}

impl Checker<'_> {
    fn check(&self, schema: &Value, value: &Value, at: &str, depth: usize) -> Result<(), String> {
        let place = || {
            if at.is_empty() {
                "the record".to_owned()
            } else {
                format!("{at:?}")
            }
        };
        if depth > MAX_DEPTH {
            return Err(format!("{}: $ref nests deeper than {MAX_DEPTH}", place()));
        }
        let schema = match schema {
            Value::Bool(true) => return Ok(()),
            Value::Bool(false) => return Err(format!("{}: the schema allows nothing here", place())),
            Value::Object(schema) => schema,
            _ => return Ok(()),
        };
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let target = self.resolve(reference)?;
            self.check(target, value, at, depth + 1)?;
        }
        if let Some(types) = schema.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !allowed.is_empty() && !allowed.iter().any(|t| is_type(value, t)) {
                return Err(format!(
                    "{} is {}, not {}",
                    place(),
                    type_name(value),
                    allowed.join(" or ")
                ));
            }
        }
        if let Some(Value::Array(options)) = schema.get("enum")
            && !options.contains(value)
        {
            return Err(format!(
                "{} is {value}, not one of {}",
                place(),
                Value::Array(options.clone())
            ));
        }
        if let Some(constant) = schema.get("const")
            && constant != value
        {
            return Err(format!("{} is {value}, not {constant}", place()));
        }
        match value {
            Value::Object(object) => self.check_object(schema, object, at, depth)?,
            Value::Array(items) => {
                let len = items.len() as u64;
                bound(
                    schema,
                    "minItems",
                    |min| len >= min,
                    || format!("{} has {len} items", place()),
                )?;
                bound(
                    schema,
                    "maxItems",
                    |max| len <= max,
                    || format!("{} has {len} items", place()),
                )?;
                if let Some(item_schema) = schema.get("items").filter(|s| !s.is_array()) {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{at}/{i}"), depth)?;
                    }
                }
            }
            Value::String(s) => {
                let len = s.chars().count() as u64;
                bound(
                    schema,
                    "minLength",
                    |min| len >= min,
                    || format!("{} has {len} characters", place()),
                )?;
                bound(
                    schema,
                    "maxLength",
                    |max| len <= max,
                    || format!("{} has {len} characters", place()),
                )?;
            }
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                let limit = |key: &str, ok: fn(f64, f64) -> bool| match schema
                    .get(key)
                    .and_then(Value::as_f64)
                {
                    Some(limit) if !ok(x, limit) => Err(format!("{} is {n}, against {key} {limit}", place())),
                    _ => Ok(()),
                };
                limit("minimum", |x, l| x >= l)?;
                limit("maximum", |x, l| x <= l)?;
                limit("exclusiveMinimum", |x, l| x > l)?;
                limit("exclusiveMaximum", |x, l| x < l)?;
            }
            _ => {}
        }
        self.check_combinators(schema, value, at, depth)
    }

    fn check_object(
        &self,
        schema: &Map<String, Value>,
        object: &Map<String, Value>,
        at: &str,
        depth: usize,
    ) -> Result<(), String> {
        if let Some(Value::Array(required)) = schema.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    return Err(format!("{:?} is required but missing", format!("{at}/{name}")));
                }
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, field) in object {
            let path = format!("{at}/{name}");
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => self.check(field_schema, field, &path, depth)?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!(
                            "{path:?} is not a property the schema allows (additionalProperties: false)"
                        ));
                    }
                    Some(extra @ Value::Object(_)) => self.check(extra, field, &path, depth)?,
                    _ => {}
                },
            }
        }
        Ok(())
    }

    fn check_combinators(
        &self,
        schema: &Map<String, Value>,
        value: &Value,
        at: &str,
        depth: usize,
    ) -> Result<(), String> {
        let place = || {
            if at.is_empty() {
                "the record".to_owned()
            } else {
                format!("{at:?}")
            }
        };
        let list = |key: &str| schema.get(key).and_then(Value::as_array).map(Vec::as_slice);
        if let Some(all) = list("allOf") {
            for s in all {
                self.check(s, value, at, depth)?;
            }
        }
        if let Some(any) = list("anyOf")
            && !any.iter().any(|s| self.check(s, value, at, depth).is_ok())
        {
            return Err(format!("{} matches none of anyOf", place()));
        }
        if let Some(one) = list("oneOf") {
            let matching = one
                .iter()
                .filter(|s| self.check(s, value, at, depth).is_ok())
                .count();
            if matching != 1 {
                return Err(format!(
                    "{} matches {matching} of oneOf, not exactly one",
                    place()
                ));
            }
        }
        if let Some(not) = schema.get("not")
            && self.check(not, value, at, depth).is_ok()
        {
            return Err(format!("{} matches the schema under \"not\"", place()));
        }
        Ok(())
    }

    /// A `$ref` within this schema.
    fn resolve(&self, reference: &str) -> Result<&Value, String> {
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(format!(
                "$ref {reference:?} points outside the schema, which is not supported"
            ));
        };
        self.root
            .pointer(pointer)
            .ok_or_else(|| format!("$ref {reference:?} names nothing in the schema"))
    }
}

/// Checks an integer keyword's `ok` (absent: fine).
fn bound(
    schema: &Map<String, Value>,
    key: &str,
    ok: impl Fn(u64) -> bool,
    what: impl Fn() -> String,
) -> Result<(), String> {
    match schema.get(key).and_then(Value::as_u64) {
        Some(limit) if !ok(limit) => Err(format!("{}, against {key} {limit}", what())),
        _ => Ok(()),
    }
}

fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "integer" => {
            value.as_i64().is_some()
                || value.as_u64().is_some()
                || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "number" => value.is_number(),
        other => type_name(value) == other,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "status": {"enum": ["new", "paid"]},
                "lines": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/line"}},
                "note": {"type": ["string", "null"], "maxLength": 5}
            },
            "required": ["id", "status"],
            "additionalProperties": false,
            "definitions": {"line": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}}}
        })
    }

    #[test]
    fn a_matching_record_passes() {
        let record = json!({"id": 3, "status": "paid", "lines": [{"sku": "a"}], "note": null});
        assert_eq!(check(&order_schema(), &record), Ok(()));
    }

    #[test]
    fn each_violation_names_where_and_what() {
        let s = order_schema();
        let err = |v: Value| check(&s, &v).unwrap_err();
        assert!(err(json!({"status": "new"})).contains("\"/id\" is required"));
        assert!(err(json!({"id": "3", "status": "new"})).contains("\"/id\" is string, not integer"));
        assert!(err(json!({"id": 0, "status": "new"})).contains("minimum"));
        assert!(err(json!({"id": 1, "status": "lost"})).contains("not one of"));
        assert!(err(json!({"id": 1, "status": "new", "x": 1})).contains("additionalProperties"));
        assert!(err(json!({"id": 1, "status": "new", "lines": []})).contains("minItems"));
        assert!(
            err(json!({"id": 1, "status": "new", "lines": [{}]})).contains("\"/lines/0/sku\" is required")
        );
        assert!(err(json!({"id": 1, "status": "new", "note": "too long"})).contains("maxLength"));
        assert!(err(json!([1])).contains("the record is array, not object"));
    }

    #[test]
    fn combinators_and_bad_references() {
        let s = json!({"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 10}]});
        assert_eq!(check(&s, &json!(3)), Ok(()));
        assert!(check(&s, &json!(12)).unwrap_err().contains("2 of oneOf"));
        assert!(check(&json!({"not": {"type": "null"}}), &Value::Null).is_err());
        assert!(
            check(&json!({"$ref": "http://x/s.json"}), &json!(1))
                .unwrap_err()
                .contains("outside")
        );
        let circular = json!({"$ref": "#"});
        assert!(check(&circular, &json!(1)).unwrap_err().contains("deeper"));
    }
}
