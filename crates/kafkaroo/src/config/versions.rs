//! `kafkaroo.api.version.max`: per-API caps on the protocol version the consumer uses, e.g.
//! `Fetch:12,OffsetCommit:8`. Without a cap each request uses the highest version both sides speak;
//! a cap is for a broker whose newest version of an API misbehaves, and lets the tests drive the
//! consumer through every version (`tests/tests/version_walk.rs`).

use std::collections::BTreeMap;

use kafkaroo_wire::messages::ApiKey;

use crate::error::Error;

/// The property's name.
pub(crate) const KEY: &str = "kafkaroo.api.version.max";

/// The API key named `name` as Kafka spells it (`Fetch`, `OffsetCommit`), in any case.
fn api_key(name: &str) -> Option<ApiKey> {
    ApiKey::iter().find(|k| kafkaroo_wire::api_name(*k as i16).eq_ignore_ascii_case(name))
}

/// Parses `Name:version[,Name:version...]` into API key → highest version. An empty value means no
/// caps. Unknown names, bad numbers, a version below the lowest kafkaroo speaks, and an API named
/// twice are errors naming the entry.
pub(crate) fn parse(value: &str) -> Result<BTreeMap<i16, i16>, Error> {
    let bad = |m: String| Error::Config(format!("{KEY}: {m}"));
    let mut caps = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((name, version)) = entry.split_once(':') else {
            return Err(bad(format!(
                "{entry:?} is not Name:version (e.g. Fetch:12,OffsetCommit:8)"
            )));
        };
        let (name, version) = (name.trim(), version.trim());
        let key = api_key(name).ok_or_else(|| {
            bad(format!(
                "unknown API {name:?}: use the name Kafka gives it, e.g. Metadata, Fetch, ListOffsets, \
                 OffsetCommit, OffsetFetch, JoinGroup, SyncGroup, Heartbeat"
            ))
        })?;
        let version: i16 = version
            .parse()
            .map_err(|_| bad(format!("{entry:?}: {version:?} is not a version number")))?;
        let ours = key.valid_versions();
        if version < ours.min {
            return Err(bad(format!(
                "{entry:?}: kafkaroo speaks {name} {}..={} and cannot go below version {}",
                ours.min, ours.max, ours.min
            )));
        }
        if caps.insert(key as i16, version).is_some() {
            return Err(bad(format!("{name} is named twice")));
        }
    }
    // Fetch v13+ names topics by id, which Metadata gives from v10 on only.
    let (metadata, fetch) = (ApiKey::Metadata as i16, ApiKey::Fetch as i16);
    if let Some(&m) = caps.get(&metadata).filter(|&&m| m < 10)
        && caps.get(&fetch).is_none_or(|&f| f >= 13)
    {
        return Err(bad(format!(
            "Metadata:{m} gives no topic ids, which Fetch 13 and later need: cap Fetch at 12 as well"
        )));
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_map_to_keys() {
        assert_eq!(
            parse("Fetch:12, offsetcommit:8").unwrap(),
            BTreeMap::from([(1, 12), (8, 8)])
        );
        assert!(parse("").unwrap().is_empty());
        assert_eq!(parse("Metadata:99").unwrap()[&3], 99, "above ours: no effect");
    }

    #[test]
    fn bad_entries_are_named() {
        let err = |v: &str| parse(v).unwrap_err().to_string();
        assert!(
            err("Fetsh:12").contains("unknown API \"Fetsh\""),
            "{}",
            err("Fetsh:12")
        );
        assert!(
            err("Fetch:x").contains("\"x\" is not a version number"),
            "{}",
            err("Fetch:x")
        );
        assert!(err("Fetch").contains("is not Name:version"), "{}", err("Fetch"));
        assert!(
            err("Fetch:3").contains("cannot go below version 4"),
            "{}",
            err("Fetch:3")
        );
        assert!(err("Fetch:-1").contains("cannot go below"), "{}", err("Fetch:-1"));
        assert!(
            err("Fetch:5,Fetch:6").contains("named twice"),
            "{}",
            err("Fetch:5,Fetch:6")
        );
        assert!(
            err("Metadata:9").contains("cap Fetch at 12"),
            "{}",
            err("Metadata:9")
        );
        assert!(parse("Metadata:9,Fetch:12").is_ok());
        assert!(err("Fetch:x").starts_with("invalid configuration: kafkaroo.api.version.max"));
    }
}
