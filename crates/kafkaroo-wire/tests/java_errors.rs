//! Compares `ErrorCode`'s table with Java's `org.apache.kafka.common.protocol.Errors` from the kafka-clients
//! jar of Kafka `DEFAULT_KAFKA_VERSION` (the newest release the harness knows, whatever
//! `KAFKAROO_KAFKA_VERSION` says, so the table is held to the newest enum): both sides must know the same
//! codes, with the same name and the same retriability (Java's: `exception() instanceof
//! RetriableException`, printed by `tests/java/PrintErrors.java`, run as a single-file source program).
//!
//! Needs `java` (JDK 17+; `JAVA_HOME` is honoured) and the Kafka jars, which the testcontainers harness
//! fetches into `~/.cache/kafkaroo` when they are missing. Without them the test fails, unless
//! `KAFKAROO_SKIP_JAVA=1`, when it says it was skipped.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use kafkaroo_testcontainers::{DEFAULT_KAFKA_VERSION, KafkaDist};
use kafkaroo_wire::ErrorCode;

/// Codes on which we differ from Java on purpose, with the reason. Each must still differ (a stale entry
/// fails the test). None today: the consumer-specific view lives in `is_fatal`, which Java does not have.
const DELIBERATE_DIFFERENCES: &[(i16, &str)] = &[];

/// `code → (name, retriable)`.
type Table = BTreeMap<i16, (String, bool)>;

fn ours() -> Table {
    (i16::MIN..=i16::MAX)
        .map(ErrorCode)
        .filter(|code| code.name() != "UNKNOWN_ERROR_CODE")
        .map(|code| (code.0, (code.name().to_owned(), code.is_retriable())))
        .collect()
}

fn javas() -> Table {
    let java = kafkaroo_testcontainers::java().unwrap_or_else(|e| {
        let why = match e {
            kafkaroo_testcontainers::Error::JavaMissing { program, detail } => {
                format!(
                    "`{program}` not found or not runnable ({detail}); install a JDK 17+ or set JAVA_HOME"
                )
            }
            other => other.to_string(),
        };
        panic!(
            "comparing the error codes with Java's Errors enum needs Java: {why} (KAFKAROO_SKIP_JAVA=1 skips)"
        )
    });
    let dist = KafkaDist::get(DEFAULT_KAFKA_VERSION).unwrap_or_else(|e| {
        panic!("the Kafka {DEFAULT_KAFKA_VERSION} jars are not available: {e}\n(KAFKAROO_SKIP_JAVA=1 skips)")
    });
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java/PrintErrors.java");
    let out = Command::new(&java)
        .arg("-cp")
        .arg(dist.broker_classpath())
        .arg(&source)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", java.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stderr}",
        source.display(),
        out.status
    );
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 from PrintErrors");
    let mut table = Table::new();
    for line in stdout.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let [code, name, retriable] = fields[..] else {
            panic!("unexpected line from PrintErrors: {line:?}\nstderr:\n{stderr}")
        };
        let code: i16 = code.parse().unwrap_or_else(|_| panic!("bad code in {line:?}"));
        let retriable = match retriable {
            "true" => true,
            "false" => false,
            other => panic!("bad retriable flag {other:?} in {line:?}"),
        };
        assert!(
            table.insert(code, (name.to_owned(), retriable)).is_none(),
            "code {code} printed twice"
        );
    }
    table
}

fn describe(entry: Option<&(String, bool)>) -> String {
    match entry {
        Some((name, true)) => format!("{name} (retriable)"),
        Some((name, false)) => format!("{name} (not retriable)"),
        None => "missing".to_owned(),
    }
}

#[test]
fn error_codes_match_javas_errors_enum() {
    if std::env::var("KAFKAROO_SKIP_JAVA").is_ok_and(|v| v == "1") {
        // Straight to stderr, past the test harness' capture, so the skip shows in a passing run.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: error_codes_match_javas_errors_enum (KAFKAROO_SKIP_JAVA=1): the error-code table was \
             not compared with Java's Errors enum"
        );
        return;
    }
    let ours = ours();
    let java = javas();
    // A sanity floor, so an empty or truncated Java run cannot pass: Kafka 4.x has more than 130 codes.
    assert!(
        java.len() > 130,
        "only {} codes from Java's Errors enum",
        java.len()
    );
    assert!(ours.len() > 130, "only {} codes in ErrorCode's table", ours.len());

    let mut differences = BTreeMap::new();
    for code in ours.keys().chain(java.keys()) {
        let (a, b) = (ours.get(code), java.get(code));
        if a != b {
            differences.insert(
                *code,
                format!("{code}: ours {}, Java {}", describe(a), describe(b)),
            );
        }
    }
    for (code, reason) in DELIBERATE_DIFFERENCES {
        assert!(
            differences.remove(code).is_some(),
            "code {code} is listed as a deliberate difference ({reason}) but agrees with Java now: remove it"
        );
    }
    assert!(
        differences.is_empty(),
        "ErrorCode's table differs from Java's Errors enum (fix the error_codes! rows in \
         crates/kafkaroo-wire/src/error_code.rs, or list a deliberate difference with its reason):\n{}",
        differences.into_values().collect::<Vec<_>>().join("\n")
    );
    eprintln!(
        "error-code table agrees with Java's Errors enum (Kafka {DEFAULT_KAFKA_VERSION}): {} codes",
        java.len()
    );
}
