//! The result table, as text and as JSON.

use std::fmt::Write as _;
use std::time::Duration;

use kafkaroo_wire::BrokerVersions;
use serde_json::{Value, json};

/// The result of one (API, version) check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every assertion held; what was observed.
    Passed(String),
    /// What differed from the expectation.
    Failed(String),
    /// The broker does not offer the API, and need not.
    NotOffered(String),
    /// Not run: a fixture it needs is unavailable (e.g. Kafka's producer tools for an external broker).
    Skipped(String),
}

impl Outcome {
    /// `ok`, `FAILED`, `n/a` or `skipped`, as the table starts the result.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Passed(_) => "ok",
            Self::Failed(_) => "FAILED",
            Self::NotOffered(_) => "n/a",
            Self::Skipped(_) => "skipped",
        }
    }

    /// What was observed, or why it failed or did not run.
    pub fn message(&self) -> &str {
        match self {
            Self::Passed(m) | Self::Failed(m) | Self::NotOffered(m) | Self::Skipped(m) => m,
        }
    }

    /// `passed`, `failed`, `not offered` or `skipped`: the outcome in the JSON report.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Passed(_) => "passed",
            Self::Failed(_) => "failed",
            Self::NotOffered(_) => "not offered",
            Self::Skipped(_) => "skipped",
        }
    }
}

/// One API the broker lists in ApiVersions, with its version range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedApi {
    pub api_key: i16,
    /// Its name (`Fetch`), or `Unknown` for a key kafka-protocol does not know.
    pub name: String,
    pub min: i16,
    pub max: i16,
}

impl OfferedApi {
    /// Every API in `versions`, by key.
    pub fn list(versions: &BrokerVersions) -> Vec<Self> {
        versions
            .iter()
            .map(|(key, r)| Self {
                api_key: key,
                name: kafkaroo_wire::api_name(key).to_owned(),
                min: r.min,
                max: r.max,
            })
            .collect()
    }
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// API name (or a named sub-check such as "JoinGroup static membership").
    pub api: String,
    /// The version checked; `None` when no version could be.
    pub version: Option<i16>,
    /// What happened.
    pub outcome: Outcome,
}

/// Every row of a run, with the broker it ran against.
#[derive(Debug, Clone)]
pub struct Report {
    /// The Kafka version under test as the fixture gave it, or what ApiVersions suggests (`unknown, 4.x-like
    /// by ApiVersions (...)`).
    pub kafka_version: String,
    /// The bootstrap address.
    pub bootstrap: String,
    /// The security of the suite's connections (e.g. `SASL_SSL SCRAM-SHA-512 as admin`); empty for
    /// PLAINTEXT.
    pub security: String,
    /// The rows, in run order.
    pub rows: Vec<Row>,
    /// What the bootstrap broker listed in ApiVersions.
    pub offered: Vec<OfferedApi>,
    /// Free-form lines printed above the table (setup, cleanup).
    pub notes: Vec<String>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

impl Report {
    pub(crate) fn new(kafka_version: &str, bootstrap: &str, security: &str) -> Self {
        Self {
            kafka_version: kafka_version.to_owned(),
            bootstrap: bootstrap.to_owned(),
            security: security.to_owned(),
            rows: Vec::new(),
            offered: Vec::new(),
            notes: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    pub(crate) fn note(&mut self, line: String) {
        self.notes.push(line);
    }

    pub(crate) fn push(&mut self, api: &str, version: Option<i16>, outcome: Outcome) {
        self.rows.push(Row {
            api: api.to_owned(),
            version,
            outcome,
        });
    }

    pub(crate) fn finish(&mut self, elapsed: Duration) {
        self.elapsed = elapsed;
    }

    /// (passed, failed, not offered, skipped).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let count = |f: fn(&Outcome) -> bool| self.rows.iter().filter(|r| f(&r.outcome)).count();
        (
            count(|o| matches!(o, Outcome::Passed(_))),
            count(|o| matches!(o, Outcome::Failed(_))),
            count(|o| matches!(o, Outcome::NotOffered(_))),
            count(|o| matches!(o, Outcome::Skipped(_))),
        )
    }

    /// The failed rows.
    pub fn failures(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .collect()
    }

    /// `conformance: N passed, M failed, K not offered[, S skipped] (Kafka V at B[ over SECURITY], Ts)`.
    pub fn summary(&self) -> String {
        let (p, f, n, s) = self.counts();
        let skipped = if s > 0 {
            format!(", {s} skipped")
        } else {
            String::new()
        };
        let security = if self.security.is_empty() {
            String::new()
        } else {
            format!(" over {}", self.security)
        };
        format!(
            "conformance: {p} passed, {f} failed, {n} not offered{skipped} (Kafka {} at {}{security}, {:.1}s)",
            self.kafka_version,
            self.bootstrap,
            self.elapsed.as_secs_f64()
        )
    }

    /// What each row checked, without the result: `(API, version, outcome kind)` with the kind `ok`,
    /// `FAILED`, `n/a` or `skipped`. Two runs that checked the same things at the same versions with the
    /// same kinds of outcome have equal lists.
    pub fn checked(&self) -> Vec<(String, Option<i16>, &'static str)> {
        self.rows
            .iter()
            .map(|r| (r.api.clone(), r.version, r.outcome.kind()))
            .collect()
    }

    /// The failed rows, one a line (`  API vN: outcome`), for an assertion message.
    pub fn failure_lines(&self) -> String {
        self.failures()
            .iter()
            .map(|r| {
                format!(
                    "  {} v{}: {:?}",
                    r.api,
                    r.version.map_or_else(|| "-".to_owned(), |v| v.to_string()),
                    r.outcome
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Prints the table and writes it to `<target dir>/<file>`; `target_tmpdir` is a test's
    /// `CARGO_TARGET_TMPDIR` (`<target dir>/tmp`).
    pub fn publish(&self, target_tmpdir: &str, file: &str) {
        let table = self.render();
        println!("{table}");
        let out = std::path::Path::new(target_tmpdir).parent().map(|t| t.join(file));
        if let Some(path) = out {
            match std::fs::write(&path, &table) {
                Ok(()) => println!("table written to {}", path.display()),
                Err(e) => println!("could not write {}: {e}", path.display()),
            }
        }
    }

    /// The whole table as text: notes, `API | version | result` rows, the summary line.
    pub fn render(&self) -> String {
        let api_w = self.rows.iter().map(|r| r.api.len()).max().unwrap_or(3).max(3);
        let mut out = String::new();
        for n in &self.notes {
            let _ = writeln!(out, "{n}");
        }
        let _ = writeln!(out, "{:<api_w$} | version | result", "API");
        let _ = writeln!(out, "{:-<api_w$}-+---------+-{:-<60}", "", "");
        for r in &self.rows {
            let version = r.version.map_or_else(|| "-".to_owned(), |v| v.to_string());
            let result = match &r.outcome {
                Outcome::Passed(d) => format!("ok: {d}"),
                Outcome::Failed(d) => format!("FAILED: {d}"),
                Outcome::NotOffered(d) => format!("n/a: {d}"),
                Outcome::Skipped(d) => format!("skipped: {d}"),
            };
            let _ = writeln!(out, "{:<api_w$} | {version:>7} | {result}", r.api);
        }
        let _ = writeln!(out, "{}", self.summary());
        out
    }

    /// The report as JSON: `broker` (bootstrap address, security, Kafka version), `offered` (ApiVersions:
    /// `api_key`, `name`, `min`, `max`), `rows` (`api`, `version` or null, `outcome` as
    /// [`Outcome::name`], `message`), `notes`, `summary` (the counts, `elapsed_s` and the summary line).
    pub fn to_json(&self) -> Value {
        let (passed, failed, not_offered, skipped) = self.counts();
        json!({
            "broker": {
                "bootstrap": self.bootstrap,
                "security": if self.security.is_empty() { "PLAINTEXT" } else { &self.security },
                "kafka_version": self.kafka_version,
            },
            "offered": self.offered.iter().map(|a| json!({
                "api_key": a.api_key, "name": a.name, "min": a.min, "max": a.max,
            })).collect::<Vec<_>>(),
            "rows": self.rows.iter().map(|r| json!({
                "api": r.api,
                "version": r.version,
                "outcome": r.outcome.name(),
                "message": r.outcome.message(),
            })).collect::<Vec<_>>(),
            "notes": self.notes,
            "summary": {
                "passed": passed,
                "failed": failed,
                "not_offered": not_offered,
                "skipped": skipped,
                "elapsed_s": self.elapsed.as_secs_f64(),
                "line": self.summary(),
            },
        })
    }
}
