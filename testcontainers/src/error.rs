use std::path::PathBuf;

/// Everything that can go wrong while providing a broker or running a tool against it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable `java` (or `javac`) on this machine.
    #[error(
        "{program} not found or not runnable ({detail}); install a JDK 17+ (or set JAVA_HOME), \
         or point KAFKAROO_BOOTSTRAP at an existing broker"
    )]
    JavaMissing {
        /// The JDK program that was checked: `java`, `javac` or `jar`.
        program: String,
        /// Why its `--version` check failed: its exit status, or the error starting it.
        detail: String,
    },
    /// Another program the harness needs (e.g. `openssl` for the certificates of a secured broker) is
    /// missing or does not run.
    #[error("{program} not found or not runnable ({detail}); {hint}")]
    ToolMissing {
        /// The missing program, e.g. `openssl`.
        program: String,
        /// Why the check failed: its exit status, or the error starting it.
        detail: String,
        /// How to install it or point the harness at it.
        hint: String,
    },
    /// `scripts/fetch-kafka.sh` (Maven) failed.
    #[error("fetching the Kafka {version} jars with Maven failed ({status}):\n{stderr}")]
    Fetch {
        /// The Kafka version whose jars were being fetched.
        version: String,
        /// The script's exit status, or `no complete cache` when it succeeded but left no complete cache.
        status: String,
        /// The script's stderr, or which cache directory is incomplete.
        stderr: String,
    },
    /// `javac` rejected the Java helper.
    #[error("compiling the Java helper failed:\n{0}")]
    Javac(String),
    /// A broker node did not answer in time.
    #[error("Kafka node {node} did not start within {secs} s ({detail}); log {log}, last lines:\n{tail}")]
    StartTimeout {
        /// The node id of the broker that did not come up.
        node: i32,
        /// The start timeout that ran out, in seconds.
        secs: u64,
        /// The last probe's outcome (its error, or which brokers the node sees so far).
        detail: String,
        /// The node's log file (for Docker, where `docker logs -f` of the container goes).
        log: PathBuf,
        /// The last 40 lines of `log`.
        tail: String,
    },
    /// A broker JVM exited on its own.
    #[error("Kafka node {node} exited ({status}); log {log}, last lines:\n{tail}")]
    BrokerExited {
        /// The node id of the broker.
        node: i32,
        /// How the JVM exited (`exit code N`, or the signal).
        status: String,
        /// The node's log file.
        log: PathBuf,
        /// The last 40 lines of `log`.
        tail: String,
    },
    /// An external tool (console producer, kcat, the Java helper, docker...) failed.
    #[error("{tool} failed ({status}):\n{stderr}")]
    Tool {
        /// What ran, e.g. `kcat -P (topic t)` or a Java main class.
        tool: String,
        /// How it exited (`exit code N`, or the signal).
        status: String,
        /// What it printed: its stderr, and for some tools its stdout too.
        stderr: String,
    },
    /// A condition was not reached in time.
    #[error("timed out after {secs} s waiting for {what}")]
    Timeout {
        /// The awaited condition, e.g. `topic <name> on every broker`.
        what: String,
        /// How long the harness waited, in seconds.
        secs: u64,
    },
    /// The request cannot be expressed with the chosen tool or broker source.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The broker answered something unexpected to the harness' own minimal requests.
    #[error("Kafka protocol: {0}")]
    Protocol(String),
    /// An I/O error, with what the harness was doing.
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing, e.g. `reading <file>` or `starting kcat`.
        context: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The result of the harness' fallible operations; the error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) trait IoContext<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: context(),
            source,
        })
    }
}
