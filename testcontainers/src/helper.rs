//! A running `KafkarooHelper` JVM (see `java/KafkarooHelper.java`) and its line protocol.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::dist::{self, Cds, HELPER_CLASS, KafkaDist};
use crate::error::{Error, IoContext, Result};
use crate::util::{Watchdog, log_tail};

pub(crate) struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    log: PathBuf,
    watchdog: Option<Watchdog>,
    cds: Cds,
}

/// The outcome of a request that reached the helper: its data lines, or the Java error it reported.
pub(crate) type Reply = std::result::Result<Vec<String>, String>;

impl Helper {
    pub(crate) fn spawn(dist: &KafkaDist, bootstrap: &str, log: &Path) -> Result<Self> {
        let helper_jar = dist.helper_jar()?;
        let stderr = File::create(log).context(|| format!("creating {}", log.display()))?;
        let classpath = format!("{}:{}", helper_jar.display(), dist.tools_classpath());
        let cds = Cds::new(dist, &classpath, HELPER_CLASS, true);
        let mut child = Command::new(dist::java()?)
            .args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:-UsePerfData"])
            .args(cds.args())
            .args(dist.tool_log_args()?)
            .arg("-cp")
            .arg(&classpath)
            .arg(HELPER_CLASS)
            .arg(bootstrap)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .context(|| "starting the Java helper".into())?;
        // When we die the helper sees EOF and exits by itself (recording its class-data archive if asked
        // to); the watchdog SIGKILLs it if it is still there 10 s later.
        let (tmp, dest) = match &cds {
            Cds::Create { tmp, dest } => (tmp.display().to_string(), dest.display().to_string()),
            _ => (String::new(), String::new()),
        };
        let watchdog = Watchdog::spawn(
            "i=0; while kill -0 \"$1\" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; \
             if kill -0 \"$1\" 2>/dev/null; then kill -9 \"$1\"; rm -f \"$2\"; \
             elif [ -s \"$2\" ]; then mv -f \"$2\" \"$3\"; fi",
            &[&child.id().to_string(), &tmp, &dest],
        )
        .ok();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut helper = Self {
            child,
            stdin,
            stdout,
            log: log.to_owned(),
            watchdog,
            cds,
        };
        let first = helper.read_line()?;
        if first != "ready" {
            return Err(helper.failure(&format!("unexpected first line {first:?}")));
        }
        Ok(helper)
    }

    fn failure(&mut self, what: &str) -> Error {
        let status = match self.child.try_wait() {
            Ok(Some(status)) => crate::util::status_text(&status),
            _ => "running".to_owned(),
        };
        Error::Tool {
            tool: format!("Java helper ({what}; log {})", self.log.display()),
            status,
            stderr: log_tail(&self.log, 30),
        }
    }

    fn read_line(&mut self) -> Result<String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err(self.failure("exited")),
            Ok(_) => Ok(line.trim_end_matches(['\n', '\r']).to_owned()),
            Err(e) => Err(self.failure(&format!("reading its output: {e}"))),
        }
    }

    /// Sends `request` (one or more lines) and reads the reply. An `Err` means the helper itself broke.
    pub(crate) fn call(&mut self, request: &str) -> Result<Reply> {
        let stdin = self.stdin.as_mut().expect("open stdin");
        let written = stdin.write_all(request.as_bytes()).and_then(|()| {
            if !request.ends_with('\n') {
                stdin.write_all(b"\n")?;
            }
            stdin.flush()
        });
        if let Err(e) = written {
            return Err(self.failure(&format!("writing a request: {e}")));
        }
        let mut lines = Vec::new();
        loop {
            let line = self.read_line()?;
            if line == "ok" {
                return Ok(Ok(lines));
            }
            if let Some(err) = line.strip_prefix("err\t") {
                let text = hex_decode(err)
                    .map_or_else(|| err.to_owned(), |b| String::from_utf8_lossy(&b).into_owned());
                return Ok(Err(text));
            }
            lines.push(line);
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if let Some(w) = self.watchdog.take() {
            w.disarm();
        }
        // EOF on stdin makes the helper exit (after recording its class-data archive, if asked to); kill
        // it in case it is stuck.
        self.stdin = None;
        let patience = if matches!(self.cds, Cds::Create { .. }) {
            100
        } else {
            20
        };
        let mut exited = false;
        for _ in 0..patience {
            if let Ok(Some(status)) = self.child.try_wait() {
                exited = status.success();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.cds.finish(exited);
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// `-` for null, hex otherwise.
pub(crate) fn hex_opt(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(|| "-".to_owned(), hex)
}

pub(crate) fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Inverse of [`hex_opt`].
pub(crate) fn hex_decode_opt(s: &str) -> Result<Option<Vec<u8>>> {
    if s == "-" {
        return Ok(None);
    }
    hex_decode(s)
        .map(Some)
        .ok_or_else(|| Error::Protocol(format!("Java helper sent bad hex {s:?}")))
}
