//! The Kafka jars (fetched from Maven Central into a cache), `java`/`javac`, classpaths and the Java helper.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, IoContext, Result};
use crate::util::status_text;

/// The Kafka version used when `KAFKAROO_KAFKA_VERSION` is unset: the newest 4.x.
pub const DEFAULT_KAFKA_VERSION: &str = "4.4.0";

const FETCH_SCRIPT: &str = include_str!("../scripts/fetch-kafka.sh");
const HELPER_SOURCE: &str = include_str!("../java/KafkarooHelper.java");
/// Main class of the Java helper (see `java/KafkarooHelper.java`).
pub(crate) const HELPER_CLASS: &str = "KafkarooHelper";
/// Producer partitioner sending everything to the partition named by `kafkaroo.partition`.
pub(crate) const FIXED_PARTITIONER_CLASS: &str = "KafkarooHelper$FixedPartitioner";

/// `KAFKAROO_KAFKA_VERSION` or [`DEFAULT_KAFKA_VERSION`].
pub fn kafka_version() -> String {
    std::env::var("KAFKAROO_KAFKA_VERSION")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map_or_else(|| DEFAULT_KAFKA_VERSION.to_owned(), |v| v.trim().to_owned())
}

/// `KAFKAROO_CACHE_DIR` or `~/.cache/kafkaroo`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KAFKAROO_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    home.join(".cache").join("kafkaroo")
}

pub(crate) fn major(version: &str) -> u32 {
    version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// `$JAVA_HOME/bin/<program>` when JAVA_HOME is set, else `<program>` from PATH.
fn jdk_program(program: &str) -> PathBuf {
    match std::env::var_os("JAVA_HOME").filter(|h| !h.is_empty()) {
        Some(home) if Path::new(&home).join("bin").join(program).exists() => {
            Path::new(&home).join("bin").join(program)
        }
        _ => PathBuf::from(program),
    }
}

fn checked_jdk_program(
    program: &'static str,
    cell: &'static OnceLock<Result<PathBuf, String>>,
) -> Result<PathBuf> {
    cell.get_or_init(|| {
        let path = jdk_program(program);
        match Command::new(&path).arg("--version").stdin(Stdio::null()).output() {
            Ok(out) if out.status.success() => Ok(path),
            Ok(out) => Err(format!(
                "`{} -version` {}",
                path.display(),
                status_text(&out.status)
            )),
            Err(e) => Err(format!("`{}`: {e}", path.display())),
        }
    })
    .clone()
    .map_err(|detail| Error::JavaMissing {
        program: program.to_owned(),
        detail,
    })
}

/// The `java` launcher, checked once per process.
pub fn java() -> Result<PathBuf> {
    static JAVA: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    checked_jdk_program("java", &JAVA)
}

/// `javac` or `jar`, checked once per process.
fn jdk_tool(program: &'static str) -> Result<PathBuf> {
    static JAVAC: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    static JAR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match program {
        "javac" => checked_jdk_program("javac", &JAVAC),
        _ => checked_jdk_program("jar", &JAR),
    }
}

/// The cached jars of one Kafka version (see `scripts/fetch-kafka.sh`).
#[derive(Debug, Clone)]
pub struct KafkaDist {
    /// The Kafka version of the broker jars in `libs/`, as passed to [`KafkaDist::get`].
    pub version: String,
    /// The release whose kafka-tools/kafka-clients are in `tools-libs` (may be older than `version`).
    pub tools_version: String,
    /// The cache directory `<cache_dir()>/kafka-<version>`: `libs/` (broker), `tools-libs/`, `conf/`, and
    /// the harness' helper jar and class-data archives.
    pub dir: PathBuf,
}

impl KafkaDist {
    /// The cached distribution of `version`, fetched with Maven (once per process and version, under a
    /// file lock shared with other processes) when the cache lacks it.
    pub fn get(version: &str) -> Result<Self> {
        static FETCHED: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let dir = cache_dir().join(format!("kafka-{version}"));
        let mut fetched = FETCHED.lock().unwrap_or_else(|e| e.into_inner());
        if !dir.join(".complete").exists() && !fetched.iter().any(|v| v == version) {
            fetch(version)?;
            fetched.push(version.to_owned());
        }
        drop(fetched);
        if !dir.join(".complete").exists() {
            return Err(Error::Fetch {
                version: version.to_owned(),
                status: "no complete cache".into(),
                stderr: format!("{} is incomplete", dir.display()),
            });
        }
        let tools_version = std::fs::read_to_string(dir.join("tools-version"))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|_| version.to_owned());
        Ok(Self {
            version: version.to_owned(),
            tools_version,
            dir,
        })
    }

    /// The broker jars' directory, `<dir>/libs`.
    pub(crate) fn libs(&self) -> PathBuf {
        self.dir.join("libs")
    }

    /// Classpath of the broker.
    pub fn broker_classpath(&self) -> String {
        format!("{}/*", self.libs().display())
    }

    /// Classpath of Kafka's tools (VerifiableConsumer, ConsoleProducer, TopicCommand...). Before 4.0 the
    /// console producer lives in the broker jar, so the broker libs come too when the versions match.
    pub fn tools_classpath(&self) -> String {
        let tools = format!("{}/*", self.dir.join("tools-libs").display());
        if self.tools_version == self.version {
            format!("{tools}:{}", self.broker_classpath())
        } else {
            tools
        }
    }

    /// Main class of the console producer of the tools version.
    pub fn console_producer_class(&self) -> &'static str {
        if major(&self.tools_version) >= 4 {
            "org.apache.kafka.tools.ConsoleProducer"
        } else {
            "kafka.tools.ConsoleProducer"
        }
    }

    /// Log configuration for short-lived tools: warnings and errors to stderr, for log4j2 and reload4j.
    pub(crate) fn tool_log_args(&self) -> Result<Vec<String>> {
        let dir = self.dir.join("conf");
        let log4j2 = dir.join("tools-log4j2.properties");
        let log4j = dir.join("tools-log4j.properties");
        if !log4j2.exists() || !log4j.exists() {
            std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
            write_atomic(&log4j2, &log4j2_properties("WARN", "SYSTEM_ERR"))?;
            write_atomic(&log4j, &log4j_properties("WARN", "System.err"))?;
        }
        Ok(vec![
            format!("-Dlog4j2.configurationFile={}", log4j2.display()),
            format!("-Dlog4j.configuration=file:{}", log4j.display()),
        ])
    }

    /// The Java helper compiled into a jar (a jar, not a directory, so that class data sharing works),
    /// built at most once per process and source version.
    pub(crate) fn helper_jar(&self) -> Result<PathBuf> {
        self.compile_jar(HELPER_CLASS, HELPER_SOURCE)
    }

    /// `source`, the Java class `class` (no package), compiled against the tools' and (same version)
    /// the broker's jars into a jar in the cache: built at most once per process and source version.
    /// For test helpers such as a broker-side metrics reporter (`ClusterOptions::extra_classpath`).
    pub fn compile_jar(&self, class: &str, source: &str) -> Result<PathBuf> {
        static BUILT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
        let name = if class == HELPER_CLASS { "helper" } else { class };
        let jar = self
            .dir
            .join(format!("{name}-{:016x}.jar", fnv1a(source.as_bytes())));
        let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        if built.contains(&jar) {
            return Ok(jar);
        }
        if !jar.exists() {
            self.build_jar(&jar, class, source)?;
        }
        built.push(jar.clone());
        Ok(jar)
    }

    fn build_jar(&self, jar: &Path, class: &str, source_text: &str) -> Result<()> {
        let work = self.dir.join(format!(
            "helper-tmp-{}-{}",
            std::process::id(),
            crate::util::random_u64()
        ));
        let result = (|| {
            std::fs::create_dir_all(&work).context(|| format!("creating {}", work.display()))?;
            let source = work.join(format!("{class}.java"));
            std::fs::write(&source, source_text).context(|| format!("writing {}", source.display()))?;
            let classes = work.join("classes");
            let out = Command::new(jdk_tool("javac")?)
                .arg("-nowarn")
                .arg("-cp")
                .arg(self.tools_classpath())
                .arg("-d")
                .arg(&classes)
                .arg(&source)
                .stdin(Stdio::null())
                .output()
                .context(|| "running javac".into())?;
            if !out.status.success() {
                return Err(Error::Javac(format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
            let tmp_jar = work.join("helper.jar");
            let out = Command::new(jdk_tool("jar")?)
                .arg("cf")
                .arg(&tmp_jar)
                .arg("-C")
                .arg(&classes)
                .arg(".")
                .stdin(Stdio::null())
                .output()
                .context(|| "running jar".into())?;
            if !out.status.success() {
                return Err(Error::Javac(format!(
                    "jar: {}",
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
            // Atomic: a concurrent process either sees no jar or a complete one (the same bytes).
            std::fs::rename(&tmp_jar, jar).context(|| format!("moving the helper jar to {}", jar.display()))
        })();
        let _ = std::fs::remove_dir_all(&work);
        result
    }
}

/// Class data sharing for a short-lived tool JVM: roughly halves its start-up CPU. The first successful
/// run of a (classpath, main class) pair records the archive (`-XX:ArchiveClassesAtExit`, in the cache),
/// later runs map it. `KAFKAROO_CDS=0` disables it.
pub(crate) enum Cds {
    Off,
    Use(PathBuf),
    Create { tmp: PathBuf, dest: PathBuf },
}

impl Cds {
    pub(crate) fn new(dist: &KafkaDist, classpath: &str, main_class: &str, may_create: bool) -> Self {
        // CDS rejects directories on the classpath.
        let only_jars = classpath
            .split(':')
            .all(|e| e.ends_with("/*") || e.ends_with(".jar"));
        if !only_jars || std::env::var("KAFKAROO_CDS").is_ok_and(|v| v == "0" || v == "false") {
            return Self::Off;
        }
        let key = fnv1a(format!("{classpath}\n{main_class}").as_bytes());
        let dest = dist.dir.join("cds").join(format!("{key:016x}.jsa"));
        if dest.exists() {
            Self::Use(dest)
        } else if may_create && std::fs::create_dir_all(dist.dir.join("cds")).is_ok() {
            let tmp = dest.with_extension(format!(
                "tmp-{}-{}",
                std::process::id(),
                crate::util::random_u64()
            ));
            Self::Create { tmp, dest }
        } else {
            Self::Off
        }
    }

    /// JVM options; JVM warnings (e.g. an outdated archive) go to stderr, never stdout.
    pub(crate) fn args(&self) -> Vec<String> {
        let mut args = vec!["-Xlog:disable".to_owned(), "-Xlog:all=warning:stderr".to_owned()];
        match self {
            Self::Off => {}
            Self::Use(path) => args.push(format!("-XX:SharedArchiveFile={}", path.display())),
            Self::Create { tmp, .. } => args.push(format!("-XX:ArchiveClassesAtExit={}", tmp.display())),
        }
        args
    }

    /// After the JVM exited: keep a freshly recorded archive if the run succeeded.
    pub(crate) fn finish(&self, success: bool) {
        if let Self::Create { tmp, dest } = self {
            if success && tmp.exists() {
                let _ = std::fs::rename(tmp, dest);
            } else {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}

fn fetch(version: &str) -> Result<()> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(FETCH_SCRIPT)
        .arg("fetch-kafka.sh")
        .arg(version)
        .env("KAFKAROO_CACHE_DIR", cache_dir())
        .stdin(Stdio::null())
        .output()
        .context(|| "running bash for scripts/fetch-kafka.sh".into())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Fetch {
            version: version.to_owned(),
            status: status_text(&out.status),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(crate) fn write_atomic(path: &Path, contents: &str) -> Result<()> {
    let tmp = path.with_extension(format!(
        "tmp-{}-{}",
        std::process::id(),
        crate::util::random_u64()
    ));
    std::fs::write(&tmp, contents).context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).context(|| format!("renaming to {}", path.display()))
}

/// log4j2 (Kafka 4.x) configuration: one console appender.
pub(crate) fn log4j2_properties(level: &str, target: &str) -> String {
    format!(
        "status = warn\n\
         appender.out.type = Console\n\
         appender.out.name = OUT\n\
         appender.out.target = {target}\n\
         appender.out.layout.type = PatternLayout\n\
         appender.out.layout.pattern = [%d] %p %m (%c)%n\n\
         rootLogger.level = {level}\n\
         rootLogger.appenderRef.out.ref = OUT\n"
    )
}

/// reload4j (Kafka 3.x) configuration: one console appender.
pub(crate) fn log4j_properties(level: &str, target: &str) -> String {
    format!(
        "log4j.rootLogger={level}, out\n\
         log4j.appender.out=org.apache.log4j.ConsoleAppender\n\
         log4j.appender.out.Target={target}\n\
         log4j.appender.out.layout=org.apache.log4j.PatternLayout\n\
         log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
    )
}
