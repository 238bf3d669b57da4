//! Producing test records with Kafka's console producer, kcat or the Java helper, and reading them back.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::ffi::OsStringExt;
use std::process::{Command, Output, Stdio};

use crate::dist::{Cds, FIXED_PARTITIONER_CLASS};
use crate::error::{Error, IoContext, Result};
use crate::helper::{hex, hex_decode_opt, hex_opt};
use crate::util::{status_text, unique_topic};
use crate::{Cluster, kcat_path};

/// One record to produce. `headers` may repeat a name; a header value may be null.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestRecord {
    /// The key; `None` sends a null key.
    pub key: Option<Vec<u8>>,
    /// The value; `None` sends a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers in order, as (name, value); `None` is a null header value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Create time in ms; `None` lets the producer stamp it. Only the Java helper can set it.
    pub timestamp: Option<i64>,
}

impl TestRecord {
    /// A record with a key and a value.
    pub fn new(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: Some(key.into()),
            value: Some(value.into()),
            ..Self::default()
        }
    }

    /// A record with a value and no key.
    pub fn value(value: impl Into<Vec<u8>>) -> Self {
        Self {
            value: Some(value.into()),
            ..Self::default()
        }
    }

    /// Replaces the key (`None`: a null key).
    #[must_use]
    pub fn with_key(mut self, key: Option<Vec<u8>>) -> Self {
        self.key = key;
        self
    }

    /// Replaces the value (`None`: a null value).
    #[must_use]
    pub fn with_value(mut self, value: Option<Vec<u8>>) -> Self {
        self.value = value;
        self
    }

    /// Appends a header (`None`: a null value); a name may be added more than once.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: Option<&[u8]>) -> Self {
        self.headers.push((name.into(), value.map(<[u8]>::to_vec)));
        self
    }

    /// Sets the create time, in ms since the Unix epoch (only the Java helper can send it).
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }
}

/// Producer-side compression codec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Uncompressed batches (`none`).
    #[default]
    None,
    /// GZIP (`gzip`).
    Gzip,
    /// Snappy (`snappy`).
    Snappy,
    /// LZ4 frames (`lz4`).
    Lz4,
    /// Zstandard (`zstd`).
    Zstd,
}

impl Compression {
    /// Every codec, `None` first, for tests that cover them all.
    pub const ALL: [Self; 5] = [Self::None, Self::Gzip, Self::Snappy, Self::Lz4, Self::Zstd];

    /// The name used by Kafka's `compression.type` and librdkafka's `compression.codec`.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// Which producer writes the records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Producer {
    /// Kafka's `ConsoleProducer` (a JVM per run; text records: UTF-8 without tab/newline, no timestamps).
    Console,
    /// `kcat -P` (librdkafka): no newlines in data, no tab in keys, no timestamps; records with different
    /// headers go through separate kcat runs (hence separate batches).
    Kcat,
    /// The Java helper (Kafka's `KafkaProducer`): everything, reports offsets.
    #[default]
    Java,
}

/// How records are grouped into batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Batching {
    /// Linger (1 s, 1 MiB batches; every tool flushes at the end, so the linger costs no time) so that
    /// records sent together share a batch per partition.
    #[default]
    Together,
    /// One record per batch (synchronous sends).
    PerRecord,
}

/// What to produce, where and how.
#[derive(Debug, Clone, Default)]
pub struct ProduceRequest {
    /// The topic the records go to.
    pub topic: String,
    /// Explicit partition; `None` uses the producer's partitioner.
    pub partition: Option<i32>,
    /// The records, sent in this order.
    pub records: Vec<TestRecord>,
    /// Codec of the produced batches (default: none).
    pub compression: Compression,
    /// Which producer sends them (default: the Java helper).
    pub via: Producer,
    /// How they are grouped into batches (default: [`Batching::Together`]).
    pub batching: Batching,
    /// Extra producer properties (`--producer-property` for the console producer, `-X` for kcat).
    pub producer_configs: Vec<(String, String)>,
}

impl ProduceRequest {
    /// Records to `topic` with the Java helper, no compression, batched together.
    pub fn new(topic: impl Into<String>, records: Vec<TestRecord>) -> Self {
        Self {
            topic: topic.into(),
            records,
            ..Self::default()
        }
    }

    /// Sends every record to `partition` instead of using the producer's partitioner.
    #[must_use]
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Compresses the batches with `compression`.
    #[must_use]
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Produces with `via` instead of the Java helper.
    #[must_use]
    pub fn via(mut self, via: Producer) -> Self {
        self.via = via;
        self
    }

    /// Sets how records are grouped into batches.
    #[must_use]
    pub fn batching(mut self, batching: Batching) -> Self {
        self.batching = batching;
        self
    }

    /// Appends one producer property to `producer_configs`.
    #[must_use]
    pub fn producer_config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.producer_configs.push((name.into(), value.into()));
        self
    }
}

/// Where the broker put a produced record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordPosition {
    /// The partition the record went to.
    pub partition: i32,
    /// The offset the broker gave it.
    pub offset: i64,
}

/// One transaction of [`Cluster::produce_transactions`].
#[derive(Debug, Clone, Default)]
pub struct TxnSpec {
    /// The records this transaction produces, in order.
    pub records: Vec<TestRecord>,
    /// Commit, or abort (the records are flushed to the log before the abort).
    pub commit: bool,
}

/// A transactional run: one transactional producer runs all `txns` in order.
#[derive(Debug, Clone, Default)]
pub struct TxnRequest {
    /// The topic every transaction writes to.
    pub topic: String,
    /// Explicit partition; `None` uses the producer's partitioner.
    pub partition: Option<i32>,
    /// The transactions, run in this order.
    pub txns: Vec<TxnSpec>,
    /// Codec of the produced batches (default: none).
    pub compression: Compression,
    /// Extra producer properties, passed after the harness' own (compression, linger, batch size, acks).
    pub producer_configs: Vec<(String, String)>,
}

/// Consumer isolation level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Isolation {
    /// `read_uncommitted`: everything up to the high watermark, aborted transactions' records included.
    #[default]
    ReadUncommitted,
    /// `read_committed`: up to the last stable offset, without aborted transactions' records.
    ReadCommitted,
}

impl Isolation {
    fn name(self) -> &'static str {
        match self {
            Self::ReadUncommitted => "read_uncommitted",
            Self::ReadCommitted => "read_committed",
        }
    }
}

/// Which reference consumer reads records back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Reader {
    /// The Java helper (Kafka's `KafkaConsumer`): exact bytes.
    #[default]
    Java,
    /// `kcat -C -J`: keys, values and headers go through JSON text (lossy for non-UTF-8 bytes).
    Kcat,
}

/// A record as a reference consumer returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// The partition it was read from.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Its timestamp in ms since the Unix epoch (-1 when kcat reports none).
    pub timestamp: i64,
    /// `CreateTime`, `LogAppendTime` or `NoTimestampType`.
    pub timestamp_type: String,
    /// The key; `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// The value; `None` for a null value.
    pub value: Option<Vec<u8>>,
    /// Headers in order, as (name, value); `None` is a null header value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

const NULL_MARKER: &str = "<kafkaroo-null>";

fn pairs(out: &mut String, configs: &[(String, String)]) {
    let _ = write!(out, "\t{}", configs.len());
    for (k, v) in configs {
        let _ = write!(out, "\t{}\t{}", hex(k.as_bytes()), hex(v.as_bytes()));
    }
}

fn record_line(out: &mut String, r: &TestRecord) {
    let ts = r.timestamp.map_or_else(|| "-".to_owned(), |t| t.to_string());
    let _ = write!(
        out,
        "rec\t{}\t{}\t{ts}\t{}",
        hex_opt(r.key.as_deref()),
        hex_opt(r.value.as_deref()),
        r.headers.len()
    );
    for (name, value) in &r.headers {
        let _ = write!(out, "\t{}\t{}", hex(name.as_bytes()), hex_opt(value.as_deref()));
    }
    out.push('\n');
}

fn batching_configs(compression: Compression, batching: Batching) -> Vec<(String, String)> {
    let linger = match batching {
        Batching::Together => "1000",
        Batching::PerRecord => "0",
    };
    vec![
        ("compression.type".to_owned(), compression.name().to_owned()),
        ("linger.ms".to_owned(), linger.to_owned()),
        ("batch.size".to_owned(), "1048576".to_owned()),
        ("acks".to_owned(), "all".to_owned()),
    ]
}

fn tool_error(tool: &str, out: &Output) -> Error {
    Error::Tool {
        tool: tool.to_owned(),
        status: status_text(&out.status),
        stderr: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ),
    }
}

fn run_with_input(mut cmd: Command, input: &[u8], tool: &str) -> Result<Output> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context(|| format!("starting {tool}"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    // Write from a thread: the tool may fill its output pipes before it has read all its input.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child
        .wait_with_output()
        .context(|| format!("waiting for {tool}"))?;
    let _ = writer.join();
    Ok(out)
}

/// Consecutive runs of records sharing `key(record)`.
fn runs<K: PartialEq>(records: &[TestRecord], key: impl Fn(&TestRecord) -> K) -> Vec<&[TestRecord]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=records.len() {
        if i == records.len() || key(&records[i]) != key(&records[start]) {
            if i > start {
                out.push(&records[start..i]);
            }
            start = i;
        }
    }
    out
}

fn console_text<'a>(what: &str, bytes: Option<&'a [u8]>, forbidden: &[char]) -> Result<&'a str> {
    let Some(bytes) = bytes else {
        return Ok(NULL_MARKER);
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::Unsupported(format!("the console producer only sends UTF-8 text ({what})")))?;
    if text == NULL_MARKER || text.contains(['\n', '\r', '\t']) || text.contains(forbidden) {
        return Err(Error::Unsupported(format!(
            "the console producer cannot send {what} {text:?} (newline, tab, {forbidden:?} or the null marker)"
        )));
    }
    Ok(text)
}

impl Cluster {
    /// Produces `req.records` and waits until the broker acknowledged them. Returns the record positions
    /// when the producer reports them (the Java helper), an empty list otherwise.
    pub fn produce(&self, req: &ProduceRequest) -> Result<Vec<RecordPosition>> {
        match req.via {
            Producer::Java => {
                let mut configs = batching_configs(req.compression, req.batching);
                configs.extend(req.producer_configs.iter().cloned());
                let groups = [("plain", req.records.as_slice())];
                self.produce_java(&req.topic, req.partition, None, req.batching, &configs, &groups)
            }
            Producer::Console => self.produce_console(req).map(|()| Vec::new()),
            Producer::Kcat => self.produce_kcat(req).map(|()| Vec::new()),
        }
    }

    /// Runs `txns` with one transactional producer (Java helper), committing or aborting each one, on
    /// `partition` (or as partitioned by the producer). Returns the positions of every record, aborted
    /// ones included, in order.
    pub fn produce_transactions(
        &self,
        topic: &str,
        partition: Option<i32>,
        txns: &[TxnSpec],
    ) -> Result<Vec<RecordPosition>> {
        self.produce_transactions_with(&TxnRequest {
            topic: topic.to_owned(),
            partition,
            txns: txns.to_vec(),
            ..TxnRequest::default()
        })
    }

    /// [`Self::produce_transactions`] with compression and producer properties.
    pub fn produce_transactions_with(&self, req: &TxnRequest) -> Result<Vec<RecordPosition>> {
        let mut configs = batching_configs(req.compression, Batching::Together);
        configs.extend(req.producer_configs.iter().cloned());
        let groups: Vec<(&str, &[TestRecord])> = req
            .txns
            .iter()
            .map(|t| (if t.commit { "commit" } else { "abort" }, t.records.as_slice()))
            .collect();
        let txn_id = unique_topic("kafkaroo-txn");
        self.produce_java(
            &req.topic,
            req.partition,
            Some(&txn_id),
            Batching::Together,
            &configs,
            &groups,
        )
    }

    fn produce_java(
        &self,
        topic: &str,
        partition: Option<i32>,
        txn_id: Option<&str>,
        batching: Batching,
        configs: &[(String, String)],
        groups: &[(&str, &[TestRecord])],
    ) -> Result<Vec<RecordPosition>> {
        let mut req = format!(
            "produce\t{topic}\t{}\t{}\t{}",
            partition.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            txn_id.unwrap_or("-"),
            u8::from(batching == Batching::PerRecord),
        );
        pairs(&mut req, configs);
        let _ = writeln!(req, "\t{}", groups.len());
        for (end, records) in groups {
            let _ = writeln!(req, "group\t{end}\t{}", records.len());
            for r in *records {
                record_line(&mut req, r);
            }
        }
        let lines = self.helper_call(&req, "producing")?;
        lines
            .iter()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                match f.as_slice() {
                    ["pos", p, o] => Ok(RecordPosition {
                        partition: p
                            .parse()
                            .map_err(|_| Error::Protocol(format!("bad line {l:?}")))?,
                        offset: o
                            .parse()
                            .map_err(|_| Error::Protocol(format!("bad line {l:?}")))?,
                    }),
                    _ => Err(Error::Protocol(format!("Java helper sent {l:?}"))),
                }
            })
            .collect()
    }

    fn produce_console(&self, req: &ProduceRequest) -> Result<()> {
        if req.records.iter().any(|r| r.timestamp.is_some()) {
            return Err(Error::Unsupported(
                "the console producer cannot set timestamps".into(),
            ));
        }
        let dist = self.dist()?;
        // The console producer rejects an empty header section: records with and without headers go
        // through separate runs.
        for run in runs(&req.records, |r| r.headers.is_empty()) {
            let with_headers = !run[0].headers.is_empty();
            let mut input = String::new();
            for r in run {
                if with_headers {
                    let mut first = true;
                    for (name, value) in &r.headers {
                        if name.is_empty()
                            || name.contains([':', ',', '\t', '\n', '\r'])
                            || name == NULL_MARKER
                        {
                            return Err(Error::Unsupported(format!(
                                "the console producer cannot send header name {name:?}"
                            )));
                        }
                        let value = console_text("header value", value.as_deref(), &[','])?;
                        input.push_str(if first { "" } else { "," });
                        let _ = write!(input, "{name}:{value}");
                        first = false;
                    }
                    input.push('\t');
                }
                let _ = writeln!(
                    input,
                    "{}\t{}",
                    console_text("key", r.key.as_deref(), &[])?,
                    console_text("value", r.value.as_deref(), &[])?
                );
            }
            // The partitioner class for an explicit partition lives with the Java helper.
            let cp = match req.partition {
                Some(_) => format!("{}:{}", dist.helper_jar()?.display(), dist.tools_classpath()),
                None => dist.tools_classpath(),
            };
            let (mut cmd, cds) = self.java_command(dist.console_producer_class(), &cp, true, true)?;
            cmd.args(["--bootstrap-server", self.bootstrap(), "--topic", &req.topic])
                .args(["--compression-codec", req.compression.name()])
                .args(["--property", "parse.key=true", "--property", "key.separator=\t"])
                .args(["--property", &format!("null.marker={NULL_MARKER}")])
                .args(["--request-required-acks", "all"])
                .args(["--batch-size", "1048576"]);
            match req.batching {
                Batching::Together => cmd.args(["--timeout", "1000"]),
                Batching::PerRecord => cmd.arg("--sync"),
            };
            if with_headers {
                cmd.args([
                    "--property",
                    "parse.headers=true",
                    "--property",
                    "headers.delimiter=\t",
                ])
                .args([
                    "--property",
                    "headers.separator=,",
                    "--property",
                    "headers.key.separator=:",
                ]);
            }
            if let Some(p) = req.partition {
                cmd.args([
                    "--producer-property",
                    &format!("partitioner.class={FIXED_PARTITIONER_CLASS}"),
                ])
                .args(["--producer-property", &format!("kafkaroo.partition={p}")]);
            }
            for (k, v) in &req.producer_configs {
                cmd.args(["--producer-property", &format!("{k}={v}")]);
            }
            let tool = format!("{} (topic {})", dist.console_producer_class(), req.topic);
            let out = run_with_input(cmd, input.as_bytes(), &tool)?;
            // The console producer logs failed sends and still exits 0.
            let stderr = String::from_utf8_lossy(&out.stderr);
            let failed = !out.status.success() || stderr.contains("] ERROR ");
            cds.finish(!failed);
            if failed {
                return Err(tool_error(&tool, &out));
            }
        }
        Ok(())
    }

    fn produce_kcat(&self, req: &ProduceRequest) -> Result<()> {
        if req.records.iter().any(|r| r.timestamp.is_some()) {
            return Err(Error::Unsupported("kcat cannot set timestamps".into()));
        }
        // kcat headers (-H) apply to a whole run: one run per distinct header list.
        for run in runs(&req.records, |r| r.headers.clone()) {
            let keyed = run.iter().any(|r| r.key.is_some());
            let nulls = run
                .iter()
                .any(|r| r.value.is_none() || (keyed && r.key.is_none()));
            let mut input = Vec::new();
            for r in run {
                if nulls
                    && (r.value.as_ref().is_some_and(Vec::is_empty)
                        || (keyed && r.key.as_ref().is_some_and(Vec::is_empty)))
                {
                    return Err(Error::Unsupported(
                        "kcat cannot send empty and null keys/values in the same run (-Z)".into(),
                    ));
                }
                if keyed {
                    let key = r.key.as_deref().unwrap_or_default();
                    if key.contains(&b'\t') || key.contains(&b'\n') {
                        return Err(Error::Unsupported(
                            "kcat keys cannot contain tab or newline".into(),
                        ));
                    }
                    input.extend_from_slice(key);
                    input.push(b'\t');
                }
                let value = r.value.as_deref().unwrap_or_default();
                if value.contains(&b'\n') {
                    return Err(Error::Unsupported("kcat values cannot contain a newline".into()));
                }
                input.extend_from_slice(value);
                input.push(b'\n');
            }
            let mut cmd = Command::new(kcat_path());
            cmd.args(["-P", "-b", self.bootstrap(), "-t", &req.topic])
                .args(["-X", &format!("compression.codec={}", req.compression.name())])
                .args(["-X", "acks=all"]);
            match req.batching {
                Batching::Together => cmd.args(["-X", "linger.ms=1000"]),
                Batching::PerRecord => cmd.args(["-X", "batch.num.messages=1"]),
            };
            if let Some(p) = req.partition {
                cmd.args(["-p", &p.to_string()]);
            }
            if keyed {
                cmd.args(["-K", "\\t"]);
            }
            if nulls {
                cmd.arg("-Z");
            }
            for (name, value) in &run[0].headers {
                if name.contains('=') || name.contains('\0') || value.as_ref().is_some_and(|v| v.contains(&0))
                {
                    return Err(Error::Unsupported(format!(
                        "kcat cannot send header {name:?} (= or NUL)"
                    )));
                }
                let mut arg = name.clone().into_bytes();
                if let Some(v) = value {
                    arg.push(b'=');
                    arg.extend_from_slice(v);
                }
                cmd.arg("-H").arg(OsString::from_vec(arg));
            }
            for (k, v) in &req.producer_configs {
                cmd.args(["-X", &format!("{k}={v}")]);
            }
            let tool = format!("kcat -P (topic {})", req.topic);
            let out = run_with_input(cmd, &input, &tool)?;
            if !out.status.success() {
                return Err(tool_error(&tool, &out));
            }
        }
        Ok(())
    }

    /// Reads `partition` of `topic` from the beginning up to its current end (the last stable offset for
    /// read_committed) with a reference consumer.
    pub fn read_records(
        &self,
        topic: &str,
        partition: i32,
        isolation: Isolation,
        via: Reader,
    ) -> Result<Vec<ConsumedRecord>> {
        match via {
            Reader::Java => self.read_java(topic, partition, isolation, &[]),
            Reader::Kcat => self.read_kcat(topic, partition, isolation),
        }
    }

    /// [`Self::read_records`] with the Java consumer and these consumer properties, which override the
    /// harness' (e.g. `bootstrap.servers` and security settings of another listener).
    pub fn read_records_with(
        &self,
        topic: &str,
        partition: i32,
        isolation: Isolation,
        consumer_configs: &[(String, String)],
    ) -> Result<Vec<ConsumedRecord>> {
        self.read_java(topic, partition, isolation, consumer_configs)
    }

    fn read_java(
        &self,
        topic: &str,
        partition: i32,
        isolation: Isolation,
        configs: &[(String, String)],
    ) -> Result<Vec<ConsumedRecord>> {
        let mut req = format!("consume\t{topic}\t{partition}\t-1\t{}\t60000", isolation.name());
        if !configs.is_empty() {
            pairs(&mut req, configs);
        }
        let lines = self.helper_call(&req, "consuming")?;
        let bad = |l: &str| Error::Protocol(format!("Java helper sent {l:?}"));
        lines
            .iter()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                if f.len() < 7 || f[0] != "rec" {
                    return Err(bad(l));
                }
                let n: usize = f[6].parse().map_err(|_| bad(l))?;
                if f.len() != 7 + 2 * n {
                    return Err(bad(l));
                }
                let headers = (0..n)
                    .map(|i| {
                        let name = hex_decode_opt(f[7 + 2 * i])?.unwrap_or_default();
                        Ok((
                            String::from_utf8_lossy(&name).into_owned(),
                            hex_decode_opt(f[8 + 2 * i])?,
                        ))
                    })
                    .collect::<Result<_>>()?;
                Ok(ConsumedRecord {
                    partition,
                    offset: f[1].parse().map_err(|_| bad(l))?,
                    timestamp: f[2].parse().map_err(|_| bad(l))?,
                    timestamp_type: f[3].to_owned(),
                    key: hex_decode_opt(f[4])?,
                    value: hex_decode_opt(f[5])?,
                    headers,
                })
            })
            .collect()
    }

    fn read_kcat(&self, topic: &str, partition: i32, isolation: Isolation) -> Result<Vec<ConsumedRecord>> {
        let out = Command::new(kcat_path())
            .args([
                "-C",
                "-b",
                self.bootstrap(),
                "-t",
                topic,
                "-p",
                &partition.to_string(),
            ])
            .args(["-o", "beginning", "-e", "-J", "-q"])
            .args(["-X", &format!("isolation.level={}", isolation.name())])
            .stdin(Stdio::null())
            .output()
            .context(|| "running kcat -C".into())?;
        let tool = format!("kcat -C (topic {topic})");
        if !out.status.success() {
            return Err(tool_error(&tool, &out));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let bytes = |v: &serde_json::Value| v.as_str().map(|s| s.as_bytes().to_vec());
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l)
                    .map_err(|e| Error::Protocol(format!("kcat printed {l:?}: {e}")))?;
                let headers = v["headers"]
                    .as_array()
                    .map(|h| {
                        h.chunks(2)
                            .map(|p| {
                                (
                                    p[0].as_str().unwrap_or_default().to_owned(),
                                    p.get(1).and_then(bytes),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let timestamp_type = match v["tstype"].as_str() {
                    Some("create") => "CreateTime",
                    Some("logappend") => "LogAppendTime",
                    _ => "NoTimestampType",
                };
                Ok(ConsumedRecord {
                    partition: v["partition"].as_i64().unwrap_or(-1) as i32,
                    offset: v["offset"]
                        .as_i64()
                        .ok_or_else(|| Error::Protocol(format!("kcat printed {l:?}")))?,
                    timestamp: v["ts"].as_i64().unwrap_or(-1),
                    timestamp_type: timestamp_type.to_owned(),
                    key: bytes(&v["key"]),
                    value: bytes(&v["payload"]),
                    headers,
                })
            })
            .collect()
    }

    /// Runs a Kafka tool class (e.g. `org.apache.kafka.tools.VerifiableProducer`) with the tools
    /// classpath and waits for it; the caller checks the exit status.
    pub fn run_java_tool<I, S>(&self, main_class: &str, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let cp = self.dist()?.tools_classpath();
        let (mut cmd, cds) = self.java_command(main_class, &cp, false, true)?;
        cmd.args(args).stdin(Stdio::null());
        let out = cmd.output().context(|| format!("running {main_class}"))?;
        cds.finish(out.status.success());
        Ok(out)
    }

    /// A `java` command ready to run `main_class` with the tools classpath and quiet logging (WARN to
    /// stderr); add arguments and spawn it (for long-running tools such as VerifiableConsumer).
    pub fn java_tool_command(&self, main_class: &str) -> Result<Command> {
        let cp = self.dist()?.tools_classpath();
        Ok(self.java_command(main_class, &cp, false, false)?.0)
    }

    /// `quick`: options for a fast start of a short-lived tool (C1 only, small heap). `record_cds`: may
    /// record a class-data archive; call [`Cds::finish`] after the run.
    fn java_command(
        &self,
        main_class: &str,
        classpath: &str,
        quick: bool,
        record_cds: bool,
    ) -> Result<(Command, Cds)> {
        let dist = self.dist()?;
        let cds = Cds::new(&dist, classpath, main_class, record_cds);
        let mut cmd = Command::new(crate::dist::java()?);
        if quick {
            cmd.args([
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-XX:-UsePerfData",
            ]);
        }
        cmd.args(cds.args())
            .args(dist.tool_log_args()?)
            .arg("-cp")
            .arg(classpath)
            .arg(main_class);
        Ok((cmd, cds))
    }
}
