//! The benchmarks' JSON results, read with an error naming the file and the field for anything missing
//! or of the wrong type.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

/// benches/consume-bench.sh's JSON.
#[derive(Debug, Clone)]
pub(crate) struct Consume {
    pub(crate) records: f64,
    pub(crate) record_size: f64,
    pub(crate) partitions: f64,
    pub(crate) runs: f64,
    pub(crate) rows: Vec<ConsumeRow>,
}

#[derive(Debug, Clone)]
pub(crate) struct ConsumeRow {
    pub(crate) codec: String,
    /// kafkaroo, kcat, java, rskafka, baseline: picks the colour.
    pub(crate) client: String,
    /// The command line variant, e.g. `kcat -C -e -q (values)`.
    pub(crate) consumer: String,
    pub(crate) wall_s: f64,
    pub(crate) cpu_s: f64,
    pub(crate) peak_rss_kib: f64,
}

/// `bench_report divan-json`'s output for benches/decode.rs.
#[derive(Debug, Clone)]
pub(crate) struct Decode {
    pub(crate) rows: Vec<DecodeRow>,
}

#[derive(Debug, Clone)]
pub(crate) struct DecodeRow {
    pub(crate) decoder: String,
    /// `codec/value size`, e.g. `lz4/100`.
    pub(crate) case: String,
    pub(crate) median_gb_per_s: f64,
    pub(crate) fastest_gb_per_s: f64,
}

/// rebalance_pause's `--results-json`.
#[derive(Debug, Clone)]
pub(crate) struct Rebalance {
    pub(crate) rate: f64,
    pub(crate) runs: Vec<RebalanceRun>,
}

#[derive(Debug, Clone)]
pub(crate) struct RebalanceRun {
    pub(crate) run: f64,
    pub(crate) client: String,
    pub(crate) protocol: String,
    /// Per moved partition: the highest record latency after the join.
    pub(crate) moved_pause_ms: Vec<f64>,
    pub(crate) rebalance_ms: f64,
    pub(crate) duplicates: f64,
}

/// Reads and parses `path`; `made_by` says which command writes it, for the error.
fn read_json(path: &Path, made_by: &str) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading {} (written by {made_by}; run that first)",
            path.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not valid JSON (written by {made_by})", path.display()))
}

/// A field of a JSON object, with the path of the file and the object for errors.
struct Fields<'a> {
    value: &'a Value,
    at: String,
}

impl<'a> Fields<'a> {
    fn new(value: &'a Value, at: String) -> anyhow::Result<Self> {
        if !value.is_object() {
            bail!("{at}: expected a JSON object");
        }
        Ok(Self { value, at })
    }

    fn get(&self, key: &str) -> anyhow::Result<&'a Value> {
        self.value
            .get(key)
            .with_context(|| format!("{}: no field {key:?}", self.at))
    }

    fn number(&self, key: &str) -> anyhow::Result<f64> {
        self.get(key)?
            .as_f64()
            .with_context(|| format!("{}: field {key:?} is not a number", self.at))
    }

    fn string(&self, key: &str) -> anyhow::Result<String> {
        self.get(key)?
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("{}: field {key:?} is not a string", self.at))
    }

    fn array(&self, key: &str) -> anyhow::Result<&'a Vec<Value>> {
        self.get(key)?
            .as_array()
            .with_context(|| format!("{}: field {key:?} is not an array", self.at))
    }

    fn numbers(&self, key: &str) -> anyhow::Result<Vec<f64>> {
        self.array(key)?
            .iter()
            .map(|v| {
                v.as_f64()
                    .with_context(|| format!("{}: {key:?} holds a non-number", self.at))
            })
            .collect()
    }

    /// Each element of the array `key` as an object, named `<at>.<key>[i]` in errors.
    fn objects(&self, key: &str) -> anyhow::Result<Vec<Self>> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| Self::new(v, format!("{}.{key}[{i}]", self.at)))
            .collect()
    }
}

/// Checks the `benchmark` field, so that swapped files give a clear error.
fn top<'a>(json: &'a Value, path: &Path, benchmark: &str) -> anyhow::Result<Fields<'a>> {
    let fields = Fields::new(json, path.display().to_string())?;
    let found = fields.string("benchmark")?;
    if found != benchmark {
        bail!(
            "{}: holds {found:?} results, expected {benchmark:?}",
            path.display()
        );
    }
    Ok(fields)
}

pub(crate) fn read_consume(path: &Path) -> anyhow::Result<Consume> {
    let json = read_json(path, "benches/consume-bench.sh (JSON_OUT)")?;
    let f = top(&json, path, "consume")?;
    let rows = f
        .objects("rows")?
        .iter()
        .map(|r| {
            Ok(ConsumeRow {
                codec: r.string("codec")?,
                client: r.string("client")?,
                consumer: r.string("consumer")?,
                wall_s: positive(r, "wall_s")?,
                cpu_s: r.number("cpu_s")?,
                peak_rss_kib: r.number("peak_rss_kib")?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Consume {
        records: positive(&f, "records")?,
        record_size: f.number("record_size")?,
        partitions: f.number("partitions")?,
        runs: f.number("runs")?,
        rows,
    })
}

/// A number that a rate is computed from: zero or negative would give an infinite or negative bar.
fn positive(f: &Fields<'_>, key: &str) -> anyhow::Result<f64> {
    let v = f.number(key)?;
    if v <= 0.0 {
        bail!("{}: field {key:?} is {v}, expected a positive number", f.at);
    }
    Ok(v)
}

pub(crate) fn read_decode(path: &Path) -> anyhow::Result<Decode> {
    let json = read_json(
        path,
        "`bench_report divan-json` from `cargo bench --bench decode`",
    )?;
    let f = top(&json, path, "decode")?;
    let rows = f
        .objects("rows")?
        .iter()
        .filter(|r| r.get("median_gb_per_s").is_ok_and(|v| !v.is_null()))
        .map(|r| {
            Ok(DecodeRow {
                decoder: r.string("decoder")?,
                case: r.string("case")?,
                median_gb_per_s: r.number("median_gb_per_s")?,
                fastest_gb_per_s: r.number("fastest_gb_per_s")?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Decode { rows })
}

pub(crate) fn read_rebalance(path: &Path) -> anyhow::Result<Rebalance> {
    let json = read_json(path, "benches/rebalance-bench.sh (JSON_OUT)")?;
    let f = top(&json, path, "rebalance")?;
    let runs = f
        .objects("runs")?
        .iter()
        .map(|r| {
            Ok(RebalanceRun {
                run: r.number("run")?,
                client: r.string("client")?,
                protocol: r.string("protocol")?,
                moved_pause_ms: r.numbers("moved_pause_ms")?,
                rebalance_ms: r.number("rebalance_ms")?,
                duplicates: r.number("duplicates")?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Rebalance {
        rate: f.number("rate")?,
        runs,
    })
}

/// `key: value` lines (the machine description report.sh writes); other lines are kept as they are.
pub(crate) fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
