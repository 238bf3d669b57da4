use std::path::PathBuf;

/// Everything that can go wrong while providing a broker or running a tool against it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable `java` (or `javac`) on this machine.
    #[error(
        "{program} not found or not runnable ({detail}); install a JDK 17+ (or set JAVA_HOME), \
         or point KAFKAROO_BOOTSTRAP at an existing broker"
    )]
    JavaMissing { program: String, detail: String },
    /// Another program the harness needs (e.g. `openssl` for the certificates of a secured broker) is
    /// missing or does not run.
    #[error("{program} not found or not runnable ({detail}); {hint}")]
    ToolMissing {
        program: String,
        detail: String,
        hint: String,
    },
    /// `scripts/fetch-kafka.sh` (Maven) failed.
    #[error("fetching the Kafka {version} jars with Maven failed ({status}):\n{stderr}")]
    Fetch {
        version: String,
        status: String,
        stderr: String,
    },
    /// `javac` rejected the Java helper.
    #[error("compiling the Java helper failed:\n{0}")]
    Javac(String),
    /// A broker node did not answer in time.
    #[error("Kafka node {node} did not start within {secs} s ({detail}); log {log}, last lines:\n{tail}")]
    StartTimeout {
        node: i32,
        secs: u64,
        detail: String,
        log: PathBuf,
        tail: String,
    },
    /// A broker JVM exited on its own.
    #[error("Kafka node {node} exited ({status}); log {log}, last lines:\n{tail}")]
    BrokerExited {
        node: i32,
        status: String,
        log: PathBuf,
        tail: String,
    },
    /// An external tool (console producer, kcat, the Java helper, docker...) failed.
    #[error("{tool} failed ({status}):\n{stderr}")]
    Tool {
        tool: String,
        status: String,
        stderr: String,
    },
    /// A condition was not reached in time.
    #[error("timed out after {secs} s waiting for {what}")]
    Timeout { what: String, secs: u64 },
    /// The request cannot be expressed with the chosen tool or broker source.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The broker answered something unexpected to the harness' own minimal requests.
    #[error("Kafka protocol: {0}")]
    Protocol(String),
    /// An I/O error, with what the harness was doing.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

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
