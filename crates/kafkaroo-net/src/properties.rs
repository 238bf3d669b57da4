//! Parsing of Java/librdkafka-style property values, shared by the clients' configurations so every
//! client names the key and the expected form the same way when a value is unusable.

use std::time::Duration;

use crate::error::{Error, Result};

/// A number (`parse::<T>`), or an error naming `key`.
pub fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| Error::Config(format!("{key}: {value:?} is not a valid number")))
}

/// Milliseconds, as every `*.ms` property is given.
pub fn parse_ms(key: &str, value: &str) -> Result<Duration> {
    Ok(Duration::from_millis(parse_num(key, value)?))
}

/// `true` or `false`.
pub fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::Config(format!("{key}: {value:?} is not true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_key_and_the_form() {
        assert_eq!(parse_num::<u32>("batch.size", " 12 ").unwrap(), 12);
        assert_eq!(parse_ms("linger.ms", "5").unwrap(), Duration::from_millis(5));
        assert!(parse_bool("x", "true").unwrap());
        let e = parse_ms("linger.ms", "soon").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid configuration: linger.ms: \"soon\" is not a valid number"
        );
        let e = parse_bool("enable.idempotence", "yes").unwrap_err();
        assert!(e.to_string().contains("is not true or false"), "{e}");
    }
}
