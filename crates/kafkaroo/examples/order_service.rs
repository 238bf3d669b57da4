//! An order service: consumes Avro orders in the Confluent wire format, processes each with
//! `kafkaroo::patterns::FailureHandling`, and commits what it dealt with.
//!
//! - Poison records (not in the wire format, an unknown schema id, a schema that does not parse, a
//!   record that does not match its schema or lacks an order's fields) go to the dead-letter topic
//!   at once, with headers saying where they came from and why.
//! - Transient failures (the registry unreachable or answering 5xx, the downstream "payment service"
//!   failing) are tried again after a backoff that doubles, up to `MAX_ATTEMPTS`; then dead-lettered.
//! - A fatal error (the registry refusing our credentials, a TLS setup that cannot work) stops the
//!   service without committing past the record: fix the configuration and start it again.
//! - An offset is committed only once its record was processed or its dead letter acknowledged, so a
//!   crash repeats work, never loses it, and a clean restart neither.
//!
//! Orders of customer `FLAKY_CUSTOMER` (default `flaky`) fail their first two attempts, standing for
//! a downstream outage.
//!
//! ```text
//! KAFKA_BOOTSTRAP=127.0.0.1:9092 SCHEMA_REGISTRY_URL=http://127.0.0.1:8081 \
//!   cargo run -p kafkaroo --features schema-registry --example order_service -- <topic> <group>
//! ```
//!
//! Environment: `KAFKA_BOOTSTRAP` (default `127.0.0.1:9092`), `SCHEMA_REGISTRY_URL` (default
//! `http://127.0.0.1:8081`), `BASIC_AUTH_USER_INFO` (`user:password`), `TOPIC` and `GROUP` (or the two
//! arguments), `DEAD_LETTER_TOPIC` (default `<topic>.dlt`), `OUTPUT_FILE` (processed orders as
//! `partition offset order-id customer` lines; default: stdout), `MAX_ATTEMPTS` (default 5),
//! `RETRY_BACKOFF_MS` (default 200), `FLAKY_CUSTOMER`, `IDLE_EXIT_MS` (exit after that long without a
//! record while nothing waits for a retry; default: run until SIGTERM or Ctrl-C).

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use kafkaroo::patterns::{DeadLetters, FailureHandling, PatternError, RetryPolicy, Verdict};
use kafkaroo::producer::{Producer, ProducerConfig};
use kafkaroo::schema::apache_avro::types::Value;
use kafkaroo::schema::{AvroDeserializer, RegistryConfig, SchemaError, SchemaRegistry};
use kafkaroo::{Consumer, ConsumerConfig, ConsumerRecord};

/// Why an order could not be processed.
#[derive(Debug)]
enum OrderError {
    /// Reading the record failed: poison, transient or fatal as the error says.
    Schema(SchemaError),
    /// Readable, but not an order (poison).
    NotAnOrder(String),
    /// The payment service failed (transient).
    Downstream(String),
}

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Schema(e) => e.fmt(f),
            Self::NotAnOrder(why) => write!(f, "not an order: {why}"),
            Self::Downstream(why) => write!(f, "the payment service failed: {why}"),
        }
    }
}

fn classify(error: &OrderError) -> Verdict {
    match error {
        OrderError::Schema(e) => e.verdict(),
        OrderError::NotAnOrder(_) => Verdict::DeadLetter,
        OrderError::Downstream(_) => Verdict::Retry,
    }
}

/// The fields the service needs.
struct Order {
    id: i64,
    customer: String,
}

impl Order {
    fn from_avro(value: &Value) -> Result<Self, OrderError> {
        let Value::Record(fields) = value else {
            return Err(OrderError::NotAnOrder(format!("a {value:?}, not a record")));
        };
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let id = match field("id") {
            Some(Value::Long(id)) => *id,
            Some(Value::Int(id)) => i64::from(*id),
            other => return Err(OrderError::NotAnOrder(format!("id is {other:?}"))),
        };
        let customer = match field("customer") {
            Some(Value::String(c)) => c.clone(),
            other => return Err(OrderError::NotAnOrder(format!("customer is {other:?}"))),
        };
        Ok(Self { id, customer })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let topic = args
        .next()
        .or_else(|| std::env::var("TOPIC").ok())
        .ok_or("usage: <topic> <group>")?;
    let group = args
        .next()
        .or_else(|| std::env::var("GROUP").ok())
        .ok_or("usage: <topic> <group>")?;
    let bootstrap = std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let registry_url =
        std::env::var("SCHEMA_REGISTRY_URL").unwrap_or_else(|_| "http://127.0.0.1:8081".into());
    let dead_letter_topic = std::env::var("DEAD_LETTER_TOPIC").unwrap_or_else(|_| format!("{topic}.dlt"));
    let flaky_customer = std::env::var("FLAKY_CUSTOMER").unwrap_or_else(|_| "flaky".into());
    let policy = RetryPolicy {
        max_attempts: env_parse("MAX_ATTEMPTS").unwrap_or(5).max(1),
        backoff: Duration::from_millis(env_parse("RETRY_BACKOFF_MS").unwrap_or(200)),
        max_backoff: Duration::from_secs(10),
    };
    let idle_exit = env_parse("IDLE_EXIT_MS").map(Duration::from_millis);
    let mut output = open_output()?;

    let mut registry_properties = vec![("schema.registry.url", registry_url)];
    if let Ok(user_info) = std::env::var("BASIC_AUTH_USER_INFO") {
        registry_properties.push(("basic.auth.user.info", user_info));
    }
    let avro = AvroDeserializer::new(SchemaRegistry::new(RegistryConfig::from_properties(
        registry_properties,
    )?));
    let producer = Producer::new(ProducerConfig::from_properties([(
        "bootstrap.servers",
        bootstrap.as_str(),
    )])?)
    .await?;
    let dead_letters = DeadLetters::new(producer, dead_letter_topic, Some(group.clone()));
    let mut handling = FailureHandling::new(dead_letters, classify, policy);
    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
    ])?;
    let mut consumer = Consumer::new(config).await?;
    consumer.subscribe([topic.as_str()])?;

    // The payment service's failures so far, per record (it fails each flaky order twice).
    let mut downstream_failures: HashMap<(i32, i64), u32> = HashMap::new();
    let mut fatal: Option<SchemaError> = None;
    let mut shutdown = std::pin::pin!(shutdown_signal());
    let mut last_record = Instant::now();
    loop {
        handling.resume_due(&mut consumer)?;
        let batch = tokio::select! {
            batch = consumer.poll(Duration::from_millis(100)) => batch?,
            () = &mut shutdown => { eprintln!("signal: shutting down"); break; }
        };
        if !batch.is_empty() || handling.waiting() > 0 || consumer.assignment().is_empty() {
            last_record = Instant::now();
        } else if idle_exit.is_some_and(|idle| last_record.elapsed() >= idle) {
            eprintln!("idle: shutting down");
            break;
        }
        let result = handling
            .handle(&mut consumer, &batch, async |record: &ConsumerRecord| {
                let value = avro
                    .deserialize(record.value().unwrap_or_default())
                    .await
                    .map_err(|e| {
                        if e.is_fatal() {
                            fatal = Some(e.clone());
                        }
                        OrderError::Schema(e)
                    })?;
                let order = Order::from_avro(&value)?;
                if order.customer == flaky_customer {
                    let failures = downstream_failures
                        .entry((record.partition(), record.offset()))
                        .or_default();
                    if *failures < 2 {
                        *failures += 1;
                        eprintln!(
                            "downstream failure partition {} offset {} (attempt {failures})",
                            record.partition(),
                            record.offset()
                        );
                        return Err(OrderError::Downstream(format!("order {} timed out", order.id)));
                    }
                }
                writeln!(
                    output,
                    "{} {} {} {}",
                    record.partition(),
                    record.offset(),
                    order.id,
                    order.customer
                )
                .and_then(|()| output.flush())
                .map_err(|e| OrderError::Downstream(format!("writing the output: {e}")))
            })
            .await;
        match result {
            Ok(handled) if handled.dead_lettered > 0 => eprintln!("dead-lettered {}", handled.dead_lettered),
            Ok(_) => {}
            // The record was sought back to: it comes again with the next poll.
            Err(e @ (PatternError::DeadLetter { .. } | PatternError::RetryTopic { .. })) => eprintln!("{e}"),
            Err(e) => return Err(e.into()),
        }
        if let Some(e) = &fatal {
            // Its record was not stored (a fatal error is retried, not dead-lettered): what is
            // committed below stops before it.
            eprintln!("fatal: {e}");
            break;
        }
        if let Err(e) = consumer.commit_stored().await {
            eprintln!("commit failed (the next one covers it): {e}");
        }
    }
    let committed = consumer.commit_stored().await;
    handling
        .dead_letters()
        .producer()
        .close(Duration::from_secs(10))
        .await;
    consumer.close().await;
    if let Some(e) = fatal {
        return Err(e.into());
    }
    committed?;
    Ok(())
}

/// `OUTPUT_FILE` opened for appending, or stdout.
fn open_output() -> std::io::Result<Box<dyn Write + Send>> {
    Ok(match std::env::var_os("OUTPUT_FILE") {
        Some(path) => Box::new(std::fs::OpenOptions::new().create(true).append(true).open(path)?),
        None => Box::new(std::io::stdout()),
    })
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Completes on Ctrl-C or (on Unix) SIGTERM.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    async move {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
