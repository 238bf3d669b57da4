//! Process, port, file and naming utilities.

use std::collections::BTreeSet;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};

/// A random 64-bit number (std's randomly seeded hasher, mixed with a counter).
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}

/// A topic name unique across processes and calls: `<prefix>-<pid>-<counter>-<random>`.
pub fn unique_topic(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(150)
        .collect();
    format!(
        "{prefix}-{}-{}-{:06x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        random_u64() & 0xff_ffff
    )
}

/// A random KRaft cluster id: 16 bytes in URL-safe base64 without padding.
pub(crate) fn cluster_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // The top bit cleared keeps the first character a letter: the format tool would take a leading '-'
    // for an option.
    let (a, b) = (random_u64() & !(1 << 63), random_u64());
    let bits = (u128::from(a) << 64) | u128::from(b);
    // 22 characters carry 132 bits: 21 full sextets, then the last 2 bits padded with four zeros.
    let mut out = String::with_capacity(22);
    for i in 0..21 {
        out.push(ALPHABET[((bits >> (122 - 6 * i)) & 0x3f) as usize] as char);
    }
    out.push(ALPHABET[((bits & 0x3) << 4) as usize] as char);
    out
}

/// `count` distinct free loopback ports (all held while choosing, then released), never one this
/// process handed out before: between release and the broker's bind, the kernel may offer the same
/// port to a second cluster starting at the same time in this process (seen: a three-node cluster's
/// controller port taken by the shared cluster's node, INCONSISTENT_CLUSTER_ID).
pub(crate) fn free_ports(count: usize) -> Result<Vec<u16>> {
    static HANDED_OUT: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    // Listeners are held until the end so that a refused port is not offered again meanwhile.
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < count {
        if held.len() > count + 1000 {
            return Err(Error::Unsupported(
                "no free loopback port left that this process did not use before".into(),
            ));
        }
        let listener = TcpListener::bind("127.0.0.1:0").context(|| "binding a free loopback port".into())?;
        let port = listener
            .local_addr()
            .context(|| "reading a bound port".into())?
            .port();
        if handed_out.insert(port) {
            ports.push(port);
        }
        held.push(listener);
    }
    Ok(ports)
}

pub(crate) fn status_text(status: &ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => format!("{status}"),
    }
}

/// The last `lines` lines of a (possibly large) text file, or a note saying why there are none.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    let mut buf = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut buf).is_err() {
        return format!("(unreadable log {})", path.display());
    }
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A fresh directory under the system temp dir.
pub(crate) fn temp_dir(prefix: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{:012x}",
        std::process::id(),
        random_u64() >> 16
    ));
    std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Whether to keep data and logs after a cluster is dropped (`KAFKAROO_KEEP_DATA=1`).
pub(crate) fn keep_data() -> bool {
    std::env::var("KAFKAROO_KEEP_DATA").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A `sh` process that runs `action` as soon as its stdin reaches EOF, i.e. when this process dies
/// (the kernel closes our end of the pipe whatever the cause of death) or when the returned guard is
/// dropped. It ignores SIGINT/SIGTERM/SIGHUP so that a Ctrl-C of the whole process group still lets it
/// clean up after us. Positional parameters `$1..` are `args`.
pub(crate) struct Watchdog {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Watchdog {
    pub(crate) fn spawn(action: &str, args: &[&str]) -> Result<Self> {
        let script = format!("trap '' INT TERM HUP; read _ignored; {action}");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("kafkaroo-watchdog")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context(|| "spawning the watchdog shell".into())?;
        let stdin = child.stdin.take();
        Ok(Self { child, stdin })
    }

    /// Stops the watchdog without running its action.
    pub(crate) fn disarm(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdin = None;
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Dropping stdin makes it fire; reap it when it has finished.
        self.stdin = None;
        let _ = self.child.try_wait();
    }
}

/// Sends SIGTERM (through `kill(1)`: this crate has no unsafe code) and waits up to `grace` for the exit,
/// then SIGKILLs. Returns the exit status and whether the process exited by itself.
pub(crate) fn terminate(child: &mut Child, grace: Duration) -> (Option<ExitStatus>, bool) {
    if let Ok(Some(status)) = child.try_wait() {
        return (Some(status), true);
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return (Some(status), true);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    (child.wait().ok(), false)
}

/// Polls `probe` every `every` until it returns `Some`, or gives up after `timeout` with the last error.
pub(crate) fn poll<T, E>(
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Result<Option<T>, E>,
) -> Result<T, Option<E>> {
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        match probe() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => last = None,
            Err(e) => last = Some(e),
        }
        if Instant::now() >= deadline {
            return Err(last);
        }
        std::thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_22_url_safe_chars_starting_with_a_letter() {
        for _ in 0..1000 {
            let id = cluster_id();
            assert_eq!(id.len(), 22);
            assert!(id.as_bytes()[0].is_ascii_alphabetic(), "{id}");
            assert!(
                id.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            );
        }
    }

    #[test]
    fn unique_topics_are_valid_and_distinct() {
        let a = unique_topic("a b/c");
        assert!(a.starts_with("a-b-c-"), "{a}");
        assert_ne!(unique_topic("x"), unique_topic("x"));
    }
}
