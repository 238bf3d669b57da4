//! `kafkaroo produce` against a real Kafka broker, compared with `kcat -P -X partitioner=murmur2_random`
//! given the same flags and input: kcat reads back the same records, partition by partition, in order,
//! headers included.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Run, run};
use kafkaroo_testcontainers::{Cluster, ConsumedRecord, Isolation, Reader, kcat_path};

const PARTITIONS: i32 = 4;

fn kafkaroo(args: &[&str]) -> Run {
    let mut full = vec!["produce"];
    full.extend_from_slice(args);
    run(Path::new(env!("CARGO_BIN_EXE_kafkaroo")), &full)
}

fn kcat(args: &[&str]) -> Run {
    let mut full = vec!["-P", "-X", "partitioner=murmur2_random"];
    full.extend_from_slice(args);
    run(&kcat_path(), &full)
}

/// Every partition of `topic` as kcat reads it: (key, value, headers) per record, in order.
type Partitions = Vec<Vec<(Option<Vec<u8>>, Option<Vec<u8>>, Vec<(String, Option<Vec<u8>>)>)>>;

fn read(cluster: &Cluster, topic: &str) -> Partitions {
    (0..PARTITIONS)
        .map(|p| {
            cluster
                .read_records(topic, p, Isolation::ReadUncommitted, Reader::Kcat)
                .unwrap()
                .into_iter()
                .map(|r: ConsumedRecord| (r.key, r.value, r.headers))
                .collect()
        })
        .collect()
}

fn topic(cluster: &Cluster, name: &str) -> String {
    let t = cluster.unique_topic(name);
    cluster.create_topic(&t, PARTITIONS, 1, &[]).unwrap();
    t
}

fn ok(run: &Run, what: &str) {
    assert_eq!(run.status, Some(0), "{what} failed: {}", run.stderr);
}

#[test]
fn keyed_lines_land_as_kcat_puts_them_with_every_codec() {
    let cluster = Cluster::shared();
    let dir = cluster.dir().join("cli-produce");
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("lines.txt");
    let mut text = String::new();
    for i in 0..120 {
        text.push_str(&format!("user-{}:event {i} {}\n", i % 37, "x".repeat(i % 13)));
    }
    text.push_str("last-key:no newline at the end");
    std::fs::write(&input, &text).unwrap();
    let input = input.to_str().unwrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let ours = topic(cluster, &format!("cli-produce-{codec}"));
        let theirs = topic(cluster, &format!("cli-kcat-{codec}"));
        let flags = |t: &str| -> Vec<String> {
            [
                "-b",
                cluster.bootstrap(),
                "-t",
                t,
                "-K",
                ":",
                "-z",
                codec,
                "-H",
                "h=first",
                "-H",
                "h=second",
            ]
            .into_iter()
            .chain(["-H", "n", "-l", input])
            .map(str::to_owned)
            .collect()
        };
        let args: Vec<String> = flags(&ours);
        ok(
            &kafkaroo(&args.iter().map(String::as_str).collect::<Vec<_>>()),
            "kafkaroo produce",
        );
        let args: Vec<String> = flags(&theirs);
        ok(
            &kcat(&args.iter().map(String::as_str).collect::<Vec<_>>()),
            "kcat -P",
        );
        let (got, want) = (read(cluster, &ours), read(cluster, &theirs));
        assert_eq!(got.iter().map(Vec::len).sum::<usize>(), 121, "{codec}");
        assert_eq!(
            got, want,
            "{codec}: partition by partition, in order, headers included"
        );
        let batches = cluster.batches(&ours, 0).unwrap();
        assert!(
            batches.iter().all(|b| b.compression == codec),
            "{codec}: {batches:?}"
        );
    }
}

#[test]
fn stdin_fixed_key_partition_count_and_tee() {
    let cluster = Cluster::shared();
    let ours = topic(cluster, "cli-produce-stdin");
    let theirs = topic(cluster, "cli-kcat-stdin");
    let dir = cluster.dir().join("cli-produce");
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("stdin.txt");
    std::fs::write(&input, b"one\ntwo\n\nthree\nfour\n").unwrap();
    let send = |program: &Path, args: &[&str]| {
        let run = run_with_stdin(program, args, &input);
        ok(&run, &format!("{program:?}"));
        run
    };
    let flags = |t: &str| -> Vec<String> {
        [
            "-b",
            cluster.bootstrap(),
            "-t",
            t,
            "-k",
            "fixed",
            "-c",
            "3",
            "-H",
            "src=stdin",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let mut ours_args = vec!["produce".to_owned(), "-T".to_owned()];
    ours_args.extend(flags(&ours));
    let run = send(
        Path::new(env!("CARGO_BIN_EXE_kafkaroo")),
        &ours_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(run.text(), "one\ntwo\nthree\n", "-T echoes what was sent");
    let mut kcat_args = vec![
        "-P".to_owned(),
        "-X".to_owned(),
        "partitioner=murmur2_random".to_owned(),
    ];
    kcat_args.extend(flags(&theirs));
    send(
        &kcat_path(),
        &kcat_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let (got, want) = (read(cluster, &ours), read(cluster, &theirs));
    assert_eq!(got, want);
    let all: Vec<_> = got.concat();
    assert_eq!(all.len(), 3, "-c 3");
    assert_eq!(
        all[2].1.as_deref(),
        Some(&b"three"[..]),
        "empty lines are skipped, as kcat does"
    );
}

#[test]
fn usage_errors_exit_with_2() {
    let r = kafkaroo(&["-b", "a:1", "-t", "t", "-z", "brotli"]);
    assert_eq!(r.status, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("compression.type"), "{}", r.stderr);
    let r = kafkaroo(&["-b", "a:1", "-t", "t", "-X", "lingr.ms=1"]);
    assert_eq!(r.status, Some(2));
    assert!(r.stderr.contains("lingr.ms"), "{}", r.stderr);
}

/// Runs `program args` with the file `input` as its stdin, killed after 60 s (coreutils' timeout).
fn run_with_stdin(program: &Path, args: &[&str], input: &Path) -> Run {
    let output = Command::new("timeout")
        .arg("60")
        .arg(program)
        .args(args)
        .stdin(std::fs::File::open(input).unwrap())
        .output()
        .unwrap_or_else(|e| panic!("running {program:?}: {e}"));
    Run {
        status: output.status.code(),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
