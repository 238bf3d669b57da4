//! `kafkaroo group list|describe|reset-offsets|delete|delete-offsets|lag`: consumer groups as
//! `kafka-consumer-groups.sh` shows and changes them, from kafkaroo's [`GroupAdmin`]. The commands that
//! change a group, and `describe --state` / `--members --verbose`, are in `ops.rs`; `lag` (in records
//! and seconds, `--watch`) in `lag.rs`.

mod lag;
mod ops;

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use kafkaroo::admin::{GroupDescription, GroupLag, GroupListing, MemberAssignment, MemberDescription};
use kafkaroo::{ConsumerConfig, GroupAdmin, TopicPartition};
use serde_json::{Value, json};

use crate::props;

/// What Java's tool prints for a value that does not exist.
const MISSING: &str = "-";

#[derive(Debug, Args)]
#[command(about = "List consumer groups, or describe one (like kafka-consumer-groups.sh)")]
pub(crate) struct GroupArgs {
    #[command(subcommand)]
    command: GroupCommand,
}

#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// List the cluster's groups with their state and protocol type
    List(Connect),
    /// Committed offset, log end offset and lag per partition, with the owning member
    #[command(
        after_help = "Exit status: 0 done, 1 error (including a group that does not exist), 2 usage error."
    )]
    Describe(DescribeArgs),
    /// Reset a group's committed offsets (kafka-consumer-groups.sh --reset-offsets); a dry run unless --execute
    #[command(
        after_help = "Exit status: 0 done, 1 error (including a group with active members), 2 usage error."
    )]
    ResetOffsets(ops::ResetArgs),
    /// Delete a group without members, with its committed offsets
    Delete(ops::DeleteArgs),
    /// Delete a group's committed offsets of some topics or partitions
    DeleteOffsets(ops::DeleteOffsetsArgs),
    /// Lag in records and in seconds per partition, with per-member totals; --watch refreshes it
    Lag(lag::LagArgs),
}

/// How to reach the cluster and what to print.
#[derive(Debug, Args)]
struct Connect {
    /// Bootstrap broker(s): host:port[,host:port...]
    #[arg(short = 'b', value_name = "brokers")]
    brokers: Option<String>,
    /// Client property key=value (connection settings: client.id, request.timeout.ms, ...)
    #[arg(short = 'X', value_name = "key=value")]
    props: Vec<String>,
    /// One JSON document instead of the table
    #[arg(long)]
    json: bool,
    /// More log output (repeat for more; RUST_LOG overrides)
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("view").args(["members", "state"])))]
struct DescribeArgs {
    /// The group id
    group: String,
    /// One row per member with its assignment, instead of one row per partition
    #[arg(long, conflicts_with = "state")]
    members: bool,
    /// With --members: Java 4.x's verbose member columns (epochs, current and target assignment); with
    /// --state: the group epoch and target assignment epoch (consumer-protocol groups, KIP-848)
    #[arg(long = "verbose", id = "verbose_view", requires = "view")]
    verbose_view: bool,
    /// One row: coordinator, assignment strategy, state and number of members
    #[arg(long)]
    state: bool,
    #[command(flatten)]
    connect: Connect,
}

pub(crate) fn main(args: GroupArgs) -> ExitCode {
    let connect = match &args.command {
        GroupCommand::List(c) => c,
        GroupCommand::Describe(d) => &d.connect,
        GroupCommand::ResetOffsets(a) => &a.connect,
        GroupCommand::Delete(a) => &a.connect,
        GroupCommand::DeleteOffsets(a) => &a.connect,
        GroupCommand::Lag(a) => &a.connect,
    };
    crate::consume::init_logging(false, connect.verbose);
    let config = match props::build_config(
        ConsumerConfig::builder().client_id("kafkaroo-cli"),
        connect.brokers.as_deref(),
        &connect.props,
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("% ERROR: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("% ERROR: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(&args.command, &config));
    match result.and_then(|text| io::stdout().write_all(text.as_bytes()).context("writing output")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<ops::UsageError>().is_some() => {
            eprintln!("% ERROR: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("% ERROR: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The text to print on stdout (notes about the group's state go to stderr, as Java's tool does).
async fn run(command: &GroupCommand, config: &ConsumerConfig) -> anyhow::Result<String> {
    let bootstrap = config.bootstrap_servers.join(",");
    let admin = GroupAdmin::connect(config)
        .await
        .with_context(|| format!("cannot connect to {bootstrap}"))?;
    match command {
        GroupCommand::List(c) => {
            let groups = admin.list_groups().await.context("listing groups")?;
            Ok(if c.json {
                json_line(&Value::Array(groups.iter().map(listing_json).collect()))
            } else {
                list_table(&groups)
            })
        }
        GroupCommand::ResetOffsets(a) => ops::reset(&admin, a).await,
        GroupCommand::Delete(a) => ops::delete(&admin, a).await,
        GroupCommand::DeleteOffsets(a) => ops::delete_offsets(&admin, a).await,
        GroupCommand::Lag(a) => lag::run(&admin, config, a).await,
        GroupCommand::Describe(d) if d.state || (d.members && d.verbose_view) => {
            let description = admin.describe_group(&d.group).await?;
            state_note(&description);
            if d.state {
                let address = admin.broker_address(description.coordinator).await?;
                Ok(ops::state_table(&description, address.as_deref(), d.verbose_view))
            } else {
                Ok(ops::members_verbose_table(&description))
            }
        }
        GroupCommand::Describe(d) => {
            let lag = admin.group_lag(&d.group).await?;
            if d.connect.json {
                return Ok(json_line(&describe_json(&lag)));
            }
            state_note(&lag.description);
            for m in &lag.description.members {
                if let MemberAssignment::Undecodable { reason } = &m.assignment {
                    eprintln!("% member {}: assignment not shown: {reason}", m.member_id);
                }
            }
            Ok(if d.members {
                members_table(&lag.description)
            } else {
                offsets_table(&lag)
            })
        }
    }
}

fn json_line(v: &Value) -> String {
    format!("{v}\n")
}

/// Java's notes for groups that are not Stable, on stderr.
fn state_note(d: &GroupDescription) {
    match d.state.as_str() {
        "Empty" => eprintln!("\nConsumer group '{}' has no active members.", d.group_id),
        "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => {
            eprintln!("\nWarning: Consumer group '{}' is rebalancing.", d.group_id);
        }
        _ => {}
    }
}

/// Left-aligned columns, each at least its width, separated by one space (Java's `%-Ns`).
fn row(out: &mut String, cells: &[(&str, usize)]) {
    out.push('\n');
    let last = cells.len() - 1;
    for (i, (text, width)) in cells.iter().enumerate() {
        out.push_str(text);
        if i < last {
            out.extend(std::iter::repeat_n(
                ' ',
                width.saturating_sub(text.chars().count()) + 1,
            ));
        }
    }
}

fn width<'a>(min: usize, texts: impl IntoIterator<Item = &'a str>) -> usize {
    texts.into_iter().map(|t| t.chars().count()).fold(min, usize::max)
}

fn list_table(groups: &[GroupListing]) -> String {
    let gw = width(15, groups.iter().map(|g| g.group_id.as_str())) + 10;
    let mut out = String::new();
    let mut line = |cells: &[(&str, usize)]| {
        row(&mut out, cells);
    };
    line(&[("GROUP", gw), ("STATE", 20), ("PROTOCOL-TYPE", 0)]);
    for g in groups {
        line(&[
            (&g.group_id, gw),
            (g.state.as_deref().unwrap_or(MISSING), 20),
            (
                if g.protocol_type.is_empty() {
                    MISSING
                } else {
                    &g.protocol_type
                },
                0,
            ),
        ]);
    }
    // The table starts with a line break like Java's; drop it and end with one instead.
    let mut text = out.split_off(1);
    text.push('\n');
    text
}

fn member<'a>(d: &'a GroupDescription, id: Option<&str>) -> Option<&'a MemberDescription> {
    id.and_then(|id| d.members.iter().find(|m| m.member_id == id))
}

fn opt_num(n: Option<i64>) -> String {
    n.map_or_else(|| MISSING.to_owned(), |n| n.to_string())
}

/// `kafka-consumer-groups.sh --describe`: one row per partition.
fn offsets_table(lag: &GroupLag) -> String {
    let d = &lag.description;
    if lag.partitions.is_empty() {
        // Java prints no table for a group with neither owned partitions nor committed offsets.
        return String::new();
    }
    struct Row<'a> {
        tp: &'a TopicPartition,
        current: String,
        end: String,
        lag: String,
        owner: Option<&'a MemberDescription>,
    }
    let rows: Vec<Row<'_>> = lag
        .partitions
        .iter()
        .map(|p| Row {
            tp: &p.partition,
            current: opt_num(p.committed),
            end: opt_num(p.log_end),
            lag: opt_num(p.lag),
            owner: member(d, p.owner.as_deref()),
        })
        .collect();
    let gw = width(15, [d.group_id.as_str()]);
    let tw = width(15, rows.iter().map(|r| r.tp.topic.as_str()));
    let cw = width(
        15,
        rows.iter()
            .map(|r| r.owner.map_or(MISSING, |m| m.member_id.as_str())),
    );
    let hw = width(
        15,
        rows.iter().map(|r| r.owner.map_or(MISSING, |m| m.host.as_str())),
    );
    let mut out = String::new();
    row(
        &mut out,
        &[
            ("GROUP", gw),
            ("TOPIC", tw),
            ("PARTITION", 10),
            ("CURRENT-OFFSET", 15),
            ("LOG-END-OFFSET", 15),
            ("LAG", 15),
            ("CONSUMER-ID", cw),
            ("HOST", hw),
            ("CLIENT-ID", 0),
        ],
    );
    for r in &rows {
        let partition = r.tp.partition.to_string();
        row(
            &mut out,
            &[
                (&d.group_id, gw),
                (&r.tp.topic, tw),
                (&partition, 10),
                (&r.current, 15),
                (&r.end, 15),
                (&r.lag, 15),
                (r.owner.map_or(MISSING, |m| &m.member_id), cw),
                (r.owner.map_or(MISSING, |m| &m.host), hw),
                (r.owner.map_or(MISSING, |m| &m.client_id), 0),
            ],
        );
    }
    out.push('\n');
    out
}

/// A member's partitions as Java's tool writes them: `topic:0,1;other:2`, `-` for none.
fn assignment_text(a: &MemberAssignment) -> String {
    match a {
        MemberAssignment::Undecodable { .. } => "(undecodable)".to_owned(),
        MemberAssignment::Partitions(p) if p.is_empty() => MISSING.to_owned(),
        MemberAssignment::Partitions(p) => {
            let mut by_topic: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
            for tp in p {
                by_topic.entry(&tp.topic).or_default().push(tp.partition);
            }
            by_topic
                .into_iter()
                .map(|(t, mut ps)| {
                    ps.sort_unstable();
                    let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
                    format!("{t}:{}", ps.join(","))
                })
                .collect::<Vec<_>>()
                .join(";")
        }
    }
}

/// `kafka-consumer-groups.sh --describe --members`, with the assignment column.
fn members_table(d: &GroupDescription) -> String {
    if d.members.is_empty() {
        return String::new();
    }
    let static_members = d.members.iter().any(|m| m.group_instance_id.is_some());
    let assignments: Vec<String> = d.members.iter().map(|m| assignment_text(&m.assignment)).collect();
    let counts: Vec<String> = d
        .members
        .iter()
        .map(|m| m.assignment.partitions().len().to_string())
        .collect();
    let MemberWidths { gw, cw, iw, hw, lw } = MemberWidths::of(d);
    let mut out = String::new();
    let header: Vec<(&str, usize)> = [
        Some(("GROUP", gw)),
        Some(("CONSUMER-ID", cw)),
        static_members.then_some(("GROUP-INSTANCE-ID", iw)),
        Some(("HOST", hw)),
        Some(("CLIENT-ID", lw)),
        Some(("#PARTITIONS", 15)),
        Some(("ASSIGNMENT", 0)),
    ]
    .into_iter()
    .flatten()
    .collect();
    row(&mut out, &header);
    for (i, m) in d.members.iter().enumerate() {
        let cells: Vec<(&str, usize)> = [
            Some((d.group_id.as_str(), gw)),
            Some((m.member_id.as_str(), cw)),
            static_members.then(|| (m.group_instance_id.as_deref().unwrap_or(MISSING), iw)),
            Some((m.host.as_str(), hw)),
            Some((m.client_id.as_str(), lw)),
            Some((counts[i].as_str(), 15)),
            Some((assignments[i].as_str(), 0)),
        ]
        .into_iter()
        .flatten()
        .collect();
        row(&mut out, &cells);
    }
    out.push('\n');
    out
}

fn listing_json(g: &GroupListing) -> Value {
    json!({
        "group": g.group_id,
        "state": g.state,
        "protocol_type": g.protocol_type,
        "type": g.group_type,
        "coordinator": g.coordinator,
    })
}

fn partitions_json(p: &[TopicPartition]) -> Value {
    p.iter()
        .map(|tp| json!({"topic": tp.topic, "partition": tp.partition}))
        .collect()
}

fn describe_json(lag: &GroupLag) -> Value {
    let d = &lag.description;
    let members: Vec<Value> = d
        .members
        .iter()
        .map(|m| {
            let (assignment, error) = match &m.assignment {
                MemberAssignment::Partitions(p) => (partitions_json(p), Value::Null),
                MemberAssignment::Undecodable { reason } => (Value::Null, json!(reason)),
            };
            let mut member = json!({
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "client_id": m.client_id,
                "host": m.host,
                "assignment": assignment,
                "assignment_error": error,
            });
            if let Some(c) = &m.consumer {
                member["member_epoch"] = json!(c.member_epoch);
                member["target_assignment"] = partitions_json(&c.target_assignment);
                member["subscribed_topic_names"] = json!(c.subscribed_topic_names);
                member["subscribed_topic_regex"] = json!(c.subscribed_topic_regex);
                member["rack"] = json!(c.rack);
                member["upgraded"] = json!(c.upgraded);
            }
            member
        })
        .collect();
    let partitions: Vec<Value> = lag
        .partitions
        .iter()
        .map(|p| {
            let owner = member(d, p.owner.as_deref());
            json!({
                "topic": p.partition.topic,
                "partition": p.partition.partition,
                "current_offset": p.committed,
                "log_end_offset": p.log_end,
                "lag": p.lag,
                "consumer_id": owner.map(|m| &m.member_id),
                "host": owner.map(|m| &m.host),
                "client_id": owner.map(|m| &m.client_id),
            })
        })
        .collect();
    json!({
        "group": d.group_id,
        "type": if d.epochs.is_some() { "consumer" } else { "classic" },
        "state": d.state,
        "protocol_type": d.protocol_type,
        "protocol": d.protocol,
        "group_epoch": d.epochs.map(|e| e.group_epoch),
        "assignment_epoch": d.epochs.map(|e| e.assignment_epoch),
        "coordinator": d.coordinator,
        "members": members,
        "partitions": partitions,
    })
}

/// Column widths of the member tables (`--members`, `--members --verbose`): group, consumer id, instance
/// id, host, client id, each at least as wide as Java's tool makes it.
pub(crate) struct MemberWidths {
    pub(crate) gw: usize,
    pub(crate) cw: usize,
    pub(crate) iw: usize,
    pub(crate) hw: usize,
    pub(crate) lw: usize,
}

impl MemberWidths {
    pub(crate) fn of(d: &GroupDescription) -> Self {
        Self {
            gw: width(15, [d.group_id.as_str()]),
            cw: width(15, d.members.iter().map(|m| m.member_id.as_str())),
            iw: width(
                17,
                d.members
                    .iter()
                    .map(|m| m.group_instance_id.as_deref().unwrap_or("")),
            ),
            hw: width(15, d.members.iter().map(|m| m.host.as_str())),
            lw: width(15, d.members.iter().map(|m| m.client_id.as_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    use kafkaroo::admin::PartitionLag;

    use super::*;

    fn description(members: Vec<MemberDescription>) -> GroupDescription {
        GroupDescription {
            group_id: "g".into(),
            state: "Stable".into(),
            protocol_type: "consumer".into(),
            protocol: "range".into(),
            coordinator: 0,
            members,
            epochs: None,
        }
    }

    fn consumer(id: &str, parts: Vec<TopicPartition>) -> MemberDescription {
        MemberDescription {
            member_id: id.into(),
            group_instance_id: None,
            client_id: "cli".into(),
            host: "/127.0.0.1".into(),
            assignment: MemberAssignment::Partitions(parts),
            consumer: None,
        }
    }

    #[test]
    fn offsets_table_has_javas_columns_and_dashes_for_unowned() {
        let lag = GroupLag {
            description: description(vec![consumer("m-1", vec![TopicPartition::new("t", 0)])]),
            partitions: vec![
                PartitionLag {
                    partition: TopicPartition::new("t", 0),
                    committed: Some(3),
                    log_end: Some(10),
                    lag: Some(7),
                    owner: Some("m-1".into()),
                },
                PartitionLag {
                    partition: TopicPartition::new("t", 1),
                    committed: Some(5),
                    log_end: None,
                    lag: None,
                    owner: None,
                },
            ],
        };
        let text = offsets_table(&lag);
        let lines: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines,
            vec![
                vec![
                    "GROUP",
                    "TOPIC",
                    "PARTITION",
                    "CURRENT-OFFSET",
                    "LOG-END-OFFSET",
                    "LAG",
                    "CONSUMER-ID",
                    "HOST",
                    "CLIENT-ID"
                ],
                vec!["g", "t", "0", "3", "10", "7", "m-1", "/127.0.0.1", "cli"],
                vec!["g", "t", "1", "5", "-", "-", "-", "-", "-"],
            ]
        );
        assert!(
            text.starts_with("\nGROUP           TOPIC           PARTITION  CURRENT-OFFSET  "),
            "{text:?}"
        );
    }

    #[test]
    fn members_table_marks_undecodable_assignments() {
        let mut odd = consumer("m-2", vec![]);
        odd.assignment = MemberAssignment::Undecodable {
            reason: "truncated".into(),
        };
        let d = description(vec![
            consumer(
                "m-1",
                vec![
                    TopicPartition::new("t", 1),
                    TopicPartition::new("u", 0),
                    TopicPartition::new("t", 0),
                ],
            ),
            odd,
            consumer("m-3", vec![]),
        ]);
        let text = members_table(&d);
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert!(lines[0].ends_with("#PARTITIONS     ASSIGNMENT"), "{text}");
        assert!(lines[1].ends_with("3               t:0,1;u:0"), "{text}");
        assert!(lines[2].ends_with("0               (undecodable)"), "{text}");
        assert!(lines[3].ends_with("0               -"), "{text}");
    }
}
