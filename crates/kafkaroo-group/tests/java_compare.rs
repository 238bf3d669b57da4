//! Runs Java's assignors (kafka-clients, via tests/java/AssignorHarness.java) and ours on the same ~200
//! random groups each and compares: `range` and `roundrobin` must be identical; `sticky` and
//! `cooperative-sticky` must be at least as balanced as Java's and, at equal balance, move no more
//! partitions. The same with random member and replica racks (KIP-881): `range` and `roundrobin` identical
//! (400 and 200 groups); `sticky` and `cooperative-sticky` (300 groups each) at least as balanced, and at
//! equal balance moving fewer partitions or, moving as many, at least as rack-local. Also re-runs
//! tests/java/GoldenBytes.java and checks tests/data/golden.txt is what Java produces.
//!
//! Needs `javac`/`java` and the kafka-clients jar cached by `testcontainers/scripts/fetch-kafka.sh 4.4.0`.
//! Without them the tests print why and pass.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::{
    Rng, Scenario, check_golden_rule, check_valid, rack_matches, random_racks, random_scenario, spread,
    sticky_racks_matter, sum_squares, tp,
};
use kafkaroo_group::assignor::{Assignments, Assignor};
use kafkaroo_group::{CooperativeStickyAssignor, RangeAssignor, RoundRobinAssignor, StickyAssignor};

const SCENARIOS: usize = 200;

struct Java {
    classes: PathBuf,
    classpath: String,
}

/// Compiles the Java programs once. Without Java or the jar the tests fail with the reason, unless
/// `KAFKAROO_SKIP_JAVA=1` says to skip them (`None`, and a line saying so): a comparison that cannot run
/// must never pass silently.
fn java() -> Option<&'static Java> {
    static JAVA: OnceLock<Option<Java>> = OnceLock::new();
    JAVA.get_or_init(|| {
        if std::env::var("KAFKAROO_SKIP_JAVA").is_ok_and(|v| v == "1") {
            eprintln!("SKIPPED: the Java assignor comparison (KAFKAROO_SKIP_JAVA=1)");
            return None;
        }
        match setup() {
            Ok(java) => Some(java),
            Err(reason) => panic!(
                "the Java assignor comparison needs Java and the Kafka jars: {reason} (KAFKAROO_SKIP_JAVA=1 skips)"
            ),
        }
    })
    .as_ref()
}

fn find_jar() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let base = Path::new(&home).join(".cache/kafkaroo/kafka-4.4.0");
    for dir in ["libs", "tools-libs"] {
        let Ok(entries) = std::fs::read_dir(base.join(dir)) else {
            continue;
        };
        let mut jars: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with("kafka-clients-") && name.ends_with(".jar")
            })
            .collect();
        jars.sort();
        if let Some(jar) = jars.pop() {
            return Some(jar);
        }
    }
    None
}

fn setup() -> Result<Java, String> {
    for tool in ["javac", "java"] {
        let ok = Command::new(tool)
            .arg("-version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            return Err(format!("`{tool}` not found"));
        }
    }
    let jar = find_jar().ok_or("no kafka-clients jar under ~/.cache/kafkaroo/kafka-4.4.0/{libs,tools-libs} (run testcontainers/scripts/fetch-kafka.sh 4.4.0)")?;
    let dir = jar.parent().unwrap();
    let mut classpath = jar.display().to_string();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("slf4j-api-")
        {
            classpath = format!("{classpath}:{}", path.display());
        }
    }
    let classes =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("kafkaroo-group-java-{}", std::process::id()));
    std::fs::create_dir_all(&classes).map_err(|e| e.to_string())?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java");
    let out = Command::new("javac")
        .arg("-nowarn")
        .arg("-d")
        .arg(&classes)
        .arg("-cp")
        .arg(&classpath)
        .arg(src.join("GoldenBytes.java"))
        .arg(src.join("AssignorHarness.java"))
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        panic!("javac failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    eprintln!("Java comparison against {}", jar.display());
    Ok(Java { classes, classpath })
}

fn run(java: &Java, class: &str, input: &str) -> String {
    let mut child = Command::new("java")
        .arg("-cp")
        .arg(format!("{}:{}", java.classes.display(), java.classpath))
        .arg(class)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn java");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{class} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Parses the harness output: scenario id → assignment.
fn parse(output: &str) -> BTreeMap<String, Assignments> {
    let mut all = BTreeMap::new();
    let mut current: Option<(String, Assignments)> = None;
    for line in output.lines() {
        let (head, rest) = line.split_once(' ').unwrap_or((line, ""));
        match head {
            "scenario" => current = Some((rest.to_owned(), Assignments::new())),
            "end" => {
                let (id, a) = current.take().unwrap();
                all.insert(id, a);
            }
            "error" => panic!("Java assignor failed: {rest}"),
            member => {
                let mut parts: Vec<_> = if rest == "-" {
                    Vec::new()
                } else {
                    rest.split(',')
                        .map(|s| {
                            let (t, p) = s.rsplit_once(':').unwrap();
                            tp(t, p.parse().unwrap())
                        })
                        .collect()
                };
                parts.sort();
                current.as_mut().unwrap().1.insert(member.to_owned(), parts);
            }
        }
    }
    all
}

fn scenarios(seed: u64) -> Vec<Scenario> {
    let mut rng = Rng(seed);
    (0..SCENARIOS)
        .map(|_| random_scenario(&mut rng, 12, 6, 16))
        .collect()
}

/// Random groups with random member and replica racks.
fn rack_scenarios(seed: u64, count: usize) -> Vec<Scenario> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|_| {
            let mut s = random_scenario(&mut rng, 12, 6, 16);
            random_racks(&mut rng, &mut s);
            s
        })
        .collect()
}

/// Runs Java's `assignor` on every scenario.
fn java_assign(java: &Java, assignor: &str, scenarios: &[Scenario]) -> Vec<Assignments> {
    let input: String = scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| s.to_java(&i.to_string(), assignor))
        .collect();
    let mut out = parse(&run(java, "AssignorHarness", &input));
    (0..scenarios.len())
        .map(|i| out.remove(&i.to_string()).expect("scenario in output"))
        .collect()
}

#[test]
fn golden_bytes_match_java() {
    let Some(java) = java() else { return };
    let ours: Vec<&str> = include_str!("data/golden.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect();
    let output = run(java, "GoldenBytes", "");
    let theirs: Vec<&str> = output.lines().collect();
    assert_eq!(
        ours, theirs,
        "tests/data/golden.txt differs from what Java produces now"
    );
}

fn identical_to_java(assignor: &dyn Assignor, scenarios: &[Scenario]) {
    let Some(java) = java() else { return };
    let expected = java_assign(java, assignor.name(), scenarios);
    for (i, (s, want)) in scenarios.iter().zip(&expected).enumerate() {
        let got = s.assign(assignor);
        assert_eq!(
            &got,
            want,
            "{} scenario {i} differs from Java:\n{}",
            assignor.name(),
            s.to_java("x", assignor.name())
        );
    }
    eprintln!(
        "{}: {} scenarios identical to Java",
        assignor.name(),
        scenarios.len()
    );
}

#[test]
fn range_is_identical_to_java() {
    identical_to_java(&RangeAssignor, &scenarios(1));
}

#[test]
fn roundrobin_is_identical_to_java() {
    identical_to_java(&RoundRobinAssignor, &scenarios(2));
}

/// KIP-881: the same with member and replica racks; also checks the comparison saw racks matter.
#[test]
fn range_with_racks_is_identical_to_java() {
    let scenarios = rack_scenarios(11, 400);
    identical_to_java(&RangeAssignor, &scenarios);
    let differs = scenarios
        .iter()
        .filter(|s| {
            let mut plain = (*s).clone();
            plain.racks = Default::default();
            s.assign(&RangeAssignor) != plain.assign(&RangeAssignor)
        })
        .count();
    eprintln!(
        "range: racks changed the assignment in {differs} of {} scenarios",
        scenarios.len()
    );
    assert!(
        differs > scenarios.len() / 10,
        "the rack scenarios hardly exercise racks ({differs})"
    );
}

/// Java's `roundrobin` ignores racks, and so does ours.
#[test]
fn roundrobin_with_racks_is_identical_to_java() {
    identical_to_java(&RoundRobinAssignor, &rack_scenarios(12, 200));
}

#[derive(Default, Debug)]
struct Totals {
    scenarios: usize,
    java_invalid: usize,
    java_golden_rule_broken: usize,
    moved_ours: usize,
    moved_java: usize,
    fewer_moves: usize,
    more_moves: usize,
    better_balance: usize,
    sumsq_ours: usize,
    sumsq_java: usize,
    spread_ours: usize,
    spread_java: usize,
}

impl Totals {
    /// Records one scenario and checks: balance no worse than Java; at equal balance, moves no worse.
    fn record(
        &mut self,
        name: &str,
        i: usize,
        s: &Scenario,
        ours: (&Assignments, usize),
        java: (&Assignments, usize),
    ) {
        let (sq_o, sq_j) = (sum_squares(s, ours.0), sum_squares(s, java.0));
        let (sp_o, sp_j) = (spread(s, ours.0), spread(s, java.0));
        let input = s.to_java(&i.to_string(), name);
        assert!(
            sq_o <= sq_j && sp_o <= sp_j,
            "{name} {i}: less balanced than Java (sum of squares {sq_o} vs {sq_j}, spread {sp_o} vs {sp_j}):\n{input}\nours {:?}\njava {:?}",
            ours.0,
            java.0
        );
        if sq_o == sq_j {
            assert!(
                ours.1 <= java.1,
                "{name} {i}: moved {} partitions, Java {}:\n{input}\nours {:?}\njava {:?}",
                ours.1,
                java.1,
                ours.0,
                java.0
            );
        }
        self.scenarios += 1;
        self.moved_ours += ours.1;
        self.moved_java += java.1;
        self.fewer_moves += usize::from(ours.1 < java.1);
        self.more_moves += usize::from(ours.1 > java.1);
        self.better_balance += usize::from(sq_o < sq_j);
        self.sumsq_ours += sq_o;
        self.sumsq_java += sq_j;
        self.spread_ours += sp_o;
        self.spread_java += sp_j;
    }
}

#[test]
fn sticky_is_no_worse_than_java() {
    let Some(java) = java() else { return };
    let scenarios = scenarios(3);
    let theirs = java_assign(java, "sticky", &scenarios);
    let mut totals = Totals::default();
    for (i, (s, j)) in scenarios.iter().zip(&theirs).enumerate() {
        let ours = s.assign(&StickyAssignor);
        check_valid(s, &ours, true).unwrap();
        if let Err(e) = check_valid(s, j, true) {
            eprintln!(
                "Java's sticky result for scenario {i} is invalid: {e}\n{}java {j:?}",
                s.to_java(&i.to_string(), "sticky")
            );
            totals.java_invalid += 1;
            continue;
        }
        totals.record("sticky", i, s, (&ours, s.moved(&ours)), (j, s.moved(j)));
    }
    eprintln!("sticky vs Java: {totals:?}");
}

/// One group's cooperative rebalances until nothing is withheld any more.
struct Convergence {
    /// Round 1's assignment (checked against the golden rule).
    first: Assignments,
    /// The last round's assignment and its input.
    last: (Scenario, Assignments),
    /// Partitions revoked over all rounds.
    revoked: usize,
    rounds: usize,
    /// The assignor produced an invalid assignment (assigned to a non-subscriber, or twice).
    invalid: Option<String>,
}

/// Runs cooperative rounds (everyone owns what the last round gave it, at the next generation) until an
/// assignment is complete, for all scenarios at once; `java` picks Java's assignor or ours.
fn converge(java: Option<&Java>, scenarios: &[Scenario]) -> Vec<Convergence> {
    const MAX_ROUNDS: usize = 6;
    let mut current: Vec<Scenario> = scenarios.to_vec();
    let mut results: Vec<Option<Convergence>> = scenarios.iter().map(|_| None).collect();
    let mut pending: Vec<usize> = (0..scenarios.len()).collect();
    for round in 1..=MAX_ROUNDS {
        let inputs: Vec<Scenario> = pending.iter().map(|&i| current[i].clone()).collect();
        let outputs = match java {
            Some(java) => java_assign(java, "cooperative-sticky", &inputs),
            None => inputs
                .iter()
                .map(|s| s.assign(&CooperativeStickyAssignor))
                .collect(),
        };
        let mut still = Vec::new();
        for (&i, a) in pending.iter().zip(outputs) {
            let s = &current[i];
            let entry = results[i].get_or_insert_with(|| Convergence {
                first: a.clone(),
                last: (s.clone(), a.clone()),
                revoked: 0,
                rounds: 0,
                invalid: None,
            });
            entry.rounds = round;
            entry.revoked += s.moved(&a);
            entry.last = (s.clone(), a.clone());
            if let Err(e) = check_valid(s, &a, false) {
                entry.invalid = Some(format!("round {round}: {e}"));
                continue;
            }
            if check_valid(s, &a, true).is_err() && round < MAX_ROUNDS {
                current[i] = s.followup(&a);
                still.push(i);
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
    }
    results.into_iter().map(Option::unwrap).collect()
}

#[test]
fn cooperative_sticky_is_no_worse_than_java() {
    let Some(java) = java() else { return };
    let scenarios = scenarios(4);
    let ours = converge(None, &scenarios);
    let theirs = converge(Some(java), &scenarios);
    let mut totals = Totals::default();
    let (mut rounds_ours, mut rounds_java) = (BTreeMap::new(), BTreeMap::new());
    for (i, s) in scenarios.iter().enumerate() {
        let (o, j) = (&ours[i], &theirs[i]);
        assert_eq!(o.invalid, None, "scenario {i}");
        check_golden_rule(s, &o.first).unwrap_or_else(|e| panic!("our round 1 of scenario {i}: {e}"));
        assert!(o.rounds <= 2, "scenario {i}: we needed {} rounds", o.rounds);
        check_valid(&o.last.0, &o.last.1, true).unwrap();
        *rounds_ours.entry(o.rounds).or_insert(0) += 1;
        if let Some(e) = &j.invalid {
            eprintln!(
                "Java's cooperative-sticky result for scenario {i} is invalid: {e}\n{}",
                s.to_java(&i.to_string(), "cooperative-sticky")
            );
            totals.java_invalid += 1;
            continue;
        }
        if let Err(e) = check_golden_rule(s, &j.first) {
            eprintln!(
                "Java's round 1 of scenario {i} breaks the golden rule: {e}\n{}java {:?}",
                s.to_java(&i.to_string(), "cooperative-sticky"),
                j.first
            );
            totals.java_golden_rule_broken += 1;
        }
        *rounds_java.entry(j.rounds).or_insert(0) += 1;
        // Final balance once converged; moves = partitions revoked over all rounds.
        totals.record(
            "cooperative-sticky",
            i,
            s,
            (&o.last.1, o.revoked),
            (&j.last.1, j.revoked),
        );
    }
    eprintln!(
        "cooperative-sticky vs Java: {totals:?}; rounds to converge: ours {rounds_ours:?}, Java {rounds_java:?}"
    );
}

/// Rack-local partitions of ours and Java's over a batch, and how often each side had more.
#[derive(Default, Debug)]
struct Locality {
    /// Scenarios where racks matter (the others are not compared).
    scenarios: usize,
    ours: usize,
    java: usize,
    ours_more: usize,
    java_more: usize,
}

impl Locality {
    /// Records one scenario where racks matter; `(0, 0)` for the others (with racks that cannot matter
    /// both sides assign as without racks, and their locality is coincidence).
    fn record(&mut self, s: &Scenario, ours: &Assignments, java: &Assignments) -> (usize, usize) {
        if !sticky_racks_matter(s) {
            return (0, 0);
        }
        self.scenarios += 1;
        let (o, j) = (rack_matches(s, ours), rack_matches(s, java));
        self.ours += o;
        self.java += j;
        self.ours_more += usize::from(o > j);
        self.java_more += usize::from(j > o);
        (o, j)
    }
}

/// KIP-881 for `sticky`: on random groups with racks, ours is valid, at least as balanced as Java's, and
/// at equal balance moves fewer previously owned partitions or, moving as many, has at least as many
/// rack-local partitions. (Java's result is not reproduced partition for partition: the two sticky
/// algorithms differ, see src/assignor/sticky/mod.rs; Java sometimes gives up stickiness for locality, we
/// do not.)
#[test]
fn sticky_with_racks_is_no_worse_than_java() {
    let Some(java) = java() else { return };
    let scenarios = rack_scenarios(13, 300);
    let theirs = java_assign(java, "sticky", &scenarios);
    let mut totals = Totals::default();
    let mut locality = Locality::default();
    for (i, (s, j)) in scenarios.iter().zip(&theirs).enumerate() {
        let ours = s.assign(&StickyAssignor);
        check_valid(s, &ours, true).unwrap();
        if check_valid(s, j, true).is_err() {
            totals.java_invalid += 1;
            continue;
        }
        let (sq_o, sq_j) = (sum_squares(s, &ours), sum_squares(s, j));
        let (sp_o, sp_j) = (spread(s, &ours), spread(s, j));
        let input = s.to_java(&i.to_string(), "sticky");
        assert!(
            sq_o <= sq_j && sp_o <= sp_j,
            "sticky {i}: less balanced than Java:\n{input}\nours {ours:?}\njava {j:?}"
        );
        let (o, jl) = locality.record(s, &ours, j);
        let (mo, mj) = (s.moved(&ours), s.moved(j));
        assert!(
            sq_o < sq_j || mo < mj || (mo == mj && o >= jl),
            "sticky {i}: {o} rack-local partitions, Java {jl}, at equal balance and {mo} moves (Java {mj}):\n{input}\nours {ours:?}\njava {j:?}"
        );
        totals.scenarios += 1;
    }
    eprintln!("sticky with racks vs Java: {totals:?}; rack-local {locality:?}");
}

/// KIP-881 for `cooperative-sticky`: round 1 keeps the golden rule, we converge in at most three rounds,
/// the final assignment is at least as balanced as Java's and, at equal balance, revoked fewer partitions
/// on the way or, revoking as many, has at least as many rack-local partitions.
#[test]
fn cooperative_sticky_with_racks_is_no_worse_than_java() {
    let Some(java) = java() else { return };
    let scenarios = rack_scenarios(14, 300);
    let ours = converge(None, &scenarios);
    let theirs = converge(Some(java), &scenarios);
    let mut locality = Locality::default();
    let mut java_invalid = 0;
    let (mut rounds_ours, mut rounds_java) = (BTreeMap::new(), BTreeMap::new());
    for (i, s) in scenarios.iter().enumerate() {
        let (o, j) = (&ours[i], &theirs[i]);
        let input = s.to_java(&i.to_string(), "cooperative-sticky");
        assert_eq!(o.invalid, None, "scenario {i}");
        check_golden_rule(s, &o.first)
            .unwrap_or_else(|e| panic!("our round 1 of scenario {i}: {e}\n{input}"));
        // Without racks we always converge in two rounds; with racks the final locality step can pick a
        // different optimum once withheld partitions are unowned (1 scenario in 300 needs a third round;
        // Java needs three or more in 27).
        assert!(
            o.rounds <= 3,
            "scenario {i}: we needed {} rounds\n{input}",
            o.rounds
        );
        *rounds_ours.entry(o.rounds).or_insert(0) += 1;
        *rounds_java.entry(j.rounds).or_insert(0) += 1;
        check_valid(&o.last.0, &o.last.1, true).unwrap();
        if j.invalid.is_some() || check_valid(&j.last.0, &j.last.1, true).is_err() {
            java_invalid += 1;
            continue;
        }
        let (sq_o, sq_j) = (sum_squares(s, &o.last.1), sum_squares(s, &j.last.1));
        assert!(
            sq_o <= sq_j,
            "cooperative-sticky {i}: less balanced than Java:\n{input}\nours {:?}\njava {:?}",
            o.last.1,
            j.last.1
        );
        let (ol, jl) = locality.record(s, &o.last.1, &j.last.1);
        assert!(
            sq_o < sq_j || o.revoked < j.revoked || (o.revoked == j.revoked && ol >= jl),
            "cooperative-sticky {i}: {ol} rack-local partitions, Java {jl}:\n{input}\nours {:?}\njava {:?}",
            o.last.1,
            j.last.1
        );
    }
    eprintln!(
        "cooperative-sticky with racks vs Java: rack-local {locality:?}; Java unfinished or invalid {java_invalid}; rounds to converge: ours {rounds_ours:?}, Java {rounds_java:?}"
    );
}
