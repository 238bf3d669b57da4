//! `kafkaroo group reset-offsets|delete|delete-offsets` and `describe --state` / `--members --verbose`:
//! the flags and tables of `kafka-consumer-groups.sh`.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use clap::Args;
use kafkaroo::admin::{Adjustment, GroupDescription, MemberAssignment, PlannedOffset};
use kafkaroo::{GroupAdmin, ResetSpec, TopicPartition, TopicSelection};

use super::{Connect, MISSING, assignment_text};

/// Java's `%-Ns`: `text` left-aligned in at least `width` characters.
fn pad(text: &str, width: usize) -> String {
    format!("{text:<width$}")
}

fn width<'a>(min: usize, texts: impl IntoIterator<Item = &'a str>) -> usize {
    texts.into_iter().map(|t| t.chars().count()).fold(min, usize::max)
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("scenario").required(true).args([
    "to_earliest", "to_latest", "to_offset", "to_datetime", "by_duration", "shift_by", "to_current", "from_file",
])))]
#[command(group(clap::ArgGroup::new("mode").args(["dry_run", "execute"])))]
pub(crate) struct ResetArgs {
    /// The consumer group id
    #[arg(long, value_name = "group")]
    pub(crate) group: String,
    /// Topic, or topic:0,1,2 for some partitions (repeatable)
    #[arg(long, value_name = "topic", conflicts_with = "all_topics")]
    topic: Vec<String>,
    /// Every topic the group has committed offsets for
    #[arg(long)]
    all_topics: bool,
    /// The log start offset
    #[arg(long)]
    to_earliest: bool,
    /// The log end offset
    #[arg(long)]
    to_latest: bool,
    /// This offset (clamped to the log)
    #[arg(long, value_name = "offset", allow_negative_numbers = true)]
    to_offset: Option<i64>,
    /// The first offset at or after this time: YYYY-MM-DDTHH:mm:SS.sss[Z|+hh:mm|+hh] (UTC without zone)
    #[arg(long, value_name = "datetime")]
    to_datetime: Option<String>,
    /// The first offset at or after now minus this ISO-8601 duration: PnDTnHnMnS
    #[arg(long, value_name = "duration")]
    by_duration: Option<String>,
    /// The committed offset moved by n (negative: back), clamped to the log
    #[arg(long, value_name = "n", allow_negative_numbers = true)]
    shift_by: Option<i64>,
    /// The committed offset (the log end where none is committed)
    #[arg(long)]
    to_current: bool,
    /// The offsets of a CSV file of topic,partition,offset lines (or group,topic,partition,offset)
    #[arg(long, value_name = "CSV file")]
    from_file: Option<String>,
    /// Print the plan without committing it (the default)
    #[arg(long)]
    dry_run: bool,
    /// Commit the plan
    #[arg(long)]
    execute: bool,
    /// Print the plan as CSV (topic,partition,offset), for --from-file
    #[arg(long)]
    export: bool,
    #[command(flatten)]
    pub(crate) connect: Connect,
}

#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// The consumer group id
    #[arg(long, value_name = "group")]
    pub(crate) group: String,
    #[command(flatten)]
    pub(crate) connect: Connect,
}

#[derive(Debug, Args)]
pub(crate) struct DeleteOffsetsArgs {
    /// The consumer group id
    #[arg(long, value_name = "group")]
    pub(crate) group: String,
    /// Topic, or topic:0,1,2 for some partitions (repeatable)
    #[arg(long, value_name = "topic", required = true)]
    topic: Vec<String>,
    #[command(flatten)]
    pub(crate) connect: Connect,
}

/// `--topic` values: `t` or `t:0,2` (Java's syntax and messages).
fn selections(args: &[String]) -> anyhow::Result<Vec<TopicSelection>> {
    args.iter()
        .map(|arg| match arg.split_once(':') {
            None => Ok(TopicSelection {
                topic: arg.clone(),
                partitions: None,
            }),
            Some((topic, parts)) if !parts.contains(':') => {
                let partitions = parts
                    .split(',')
                    .map(|p| {
                        p.parse::<i32>().map_err(|_| {
                            anyhow::anyhow!("Invalid partition '{p}' specified in topic arg '{arg}'")
                        })
                    })
                    .collect::<anyhow::Result<Vec<i32>>>()?;
                Ok(TopicSelection {
                    topic: topic.to_owned(),
                    partitions: Some(partitions),
                })
            }
            Some(_) => bail!("Invalid topic arg '{arg}', expected topic name and partitions"),
        })
        .collect()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `--to-datetime` as Java's `Utils.getDateTime`: `yyyy-MM-dd'T'HH:mm:ss.SSS` then `Z`, `±HH:mm` or
/// `±HH`; no zone means UTC. Milliseconds since the epoch.
pub(crate) fn parse_datetime(text: &str) -> anyhow::Result<i64> {
    let bad = || {
        anyhow::anyhow!(
            "invalid --to-datetime {text:?}: expected YYYY-MM-DDTHH:mm:SS.sss, optionally followed by Z, +hh:mm or +hh"
        )
    };
    let (date, time) = text.split_once('T').ok_or_else(|| {
        anyhow::anyhow!(
            "Error parsing timestamp. It does not contain a 'T' according to ISO8601 format: {text:?}"
        )
    })?;
    let num = |s: &str, len: usize| -> anyhow::Result<i64> {
        if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| bad())
    };
    let d: Vec<&str> = date.split('-').collect();
    let [y, mo, day] = d[..] else { return Err(bad()) };
    let (y, mo, day) = (num(y, 4)?, num(mo, 2)?, num(day, 2)?);
    if time.len() < 12 {
        return Err(bad());
    }
    let (clock, zone) = time.split_at(12);
    let (h, mi, s, ms) = (
        num(&clock[0..2], 2)?,
        num(&clock[3..5], 2)?,
        num(&clock[6..8], 2)?,
        num(&clock[9..12], 3)?,
    );
    if &clock[2..3] != ":" || &clock[5..6] != ":" || &clock[8..9] != "." {
        return Err(bad());
    }
    let month_days = [
        31,
        if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
            29
        } else {
            28
        },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || day < 1
        || day > month_days[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || s > 59
    {
        return Err(bad());
    }
    let offset_minutes = match zone {
        "" | "Z" => 0,
        z if z.starts_with(['+', '-']) => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let rest = &z[1..];
            let (zh, zm) = match rest.len() {
                2 => (num(rest, 2)?, 0),
                5 if &rest[2..3] == ":" => (num(&rest[0..2], 2)?, num(&rest[3..5], 2)?),
                _ => return Err(bad()),
            };
            if zh > 23 || zm > 59 {
                return Err(bad());
            }
            sign * (zh * 60 + zm)
        }
        _ => return Err(bad()),
    };
    let secs = days_from_civil(y, mo, day) * 86_400 + h * 3600 + mi * 60 + s - offset_minutes * 60;
    Ok(secs * 1000 + ms)
}

/// `--by-duration` as Java's `Duration.parse`: `[-]PnDTnHnMn.nS` (each number may be signed), in ms.
pub(crate) fn parse_duration_ms(text: &str) -> anyhow::Result<i64> {
    let bad = || anyhow::anyhow!("invalid --by-duration {text:?}: expected an ISO-8601 duration PnDTnHnMnS");
    let upper = text.to_ascii_uppercase();
    let (negate, rest) = match upper.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, upper.strip_prefix('+').unwrap_or(&upper)),
    };
    let rest = rest.strip_prefix('P').ok_or_else(bad)?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() {
                return Err(bad());
            }
            (d, t)
        }
        None => (rest, ""),
    };
    if days.is_empty() && time.is_empty() {
        return Err(bad());
    }
    let mut ms: i128 = 0;
    if !days.is_empty() {
        let n = days.strip_suffix('D').ok_or_else(bad)?;
        ms += n.parse::<i128>().map_err(|_| bad())? * 86_400_000;
    }
    let mut t = time;
    for (unit, factor) in [('H', 3_600_000i128), ('M', 60_000)] {
        if let Some(i) = t.find(unit) {
            ms += t[..i].parse::<i128>().map_err(|_| bad())? * factor;
            t = &t[i + 1..];
        }
    }
    if !t.is_empty() {
        let secs = t.strip_suffix('S').ok_or_else(bad)?;
        let (whole, frac) = secs.split_once(['.', ',']).unwrap_or((secs, ""));
        let negative = whole.starts_with('-');
        let whole_ms = whole.parse::<i128>().map_err(|_| bad())? * 1000;
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let frac_ms = format!("{frac:0<3}")[..3].parse::<i128>().map_err(|_| bad())?;
        ms += if negative {
            whole_ms - frac_ms
        } else {
            whole_ms + frac_ms
        };
    }
    let ms = if negate { -ms } else { ms };
    i64::try_from(ms).map_err(|_| bad())
}

/// A `--from-file` CSV for `group`: `topic,partition,offset` lines, or `group,topic,partition,offset`
/// (lines of other groups skipped).
pub(crate) fn parse_plan_csv(text: &str, group: &str) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.trim().split(',').collect();
        let (topic, partition, offset) = match cols[..] {
            [t, p, o] => (t, p, o),
            [g, t, p, o] if g == group => (t, p, o),
            [_, _, _, _] => continue,
            _ => bail!("line {}: expected topic,partition,offset: {line:?}", n + 1),
        };
        let partition: i32 = partition
            .parse()
            .with_context(|| format!("line {}: bad partition {partition:?}", n + 1))?;
        let offset: i64 = offset
            .parse()
            .with_context(|| format!("line {}: bad offset {offset:?}", n + 1))?;
        out.insert(TopicPartition::new(topic, partition), offset);
    }
    Ok(out)
}

impl ResetArgs {
    fn spec(&self) -> anyhow::Result<ResetSpec> {
        Ok(if self.to_earliest {
            ResetSpec::Earliest
        } else if self.to_latest {
            ResetSpec::Latest
        } else if let Some(o) = self.to_offset {
            ResetSpec::Offset(o)
        } else if let Some(d) = &self.to_datetime {
            ResetSpec::Timestamp(parse_datetime(d)?)
        } else if let Some(d) = &self.by_duration {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            ResetSpec::Timestamp(now - parse_duration_ms(d)?)
        } else if let Some(n) = self.shift_by {
            ResetSpec::ShiftBy(n)
        } else if self.to_current {
            ResetSpec::Current
        } else if let Some(path) = &self.from_file {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
            ResetSpec::Offsets(parse_plan_csv(&text, &self.group)?)
        } else {
            unreachable!("clap requires a scenario")
        })
    }
}

/// Usage errors found before anything is sent (exit status 2).
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub(crate) async fn reset(admin: &GroupAdmin, a: &ResetArgs) -> anyhow::Result<String> {
    let spec = a.spec().map_err(|e| UsageError(format!("{e:#}")))?;
    if !a.all_topics && a.topic.is_empty() && !matches!(spec, ResetSpec::Offsets(_)) {
        return Err(
            UsageError("One of the reset scopes should be defined: --all-topics, --topic.".into()).into(),
        );
    }
    if !a.dry_run && !a.execute {
        eprintln!(
            "WARN: No action will be performed as the --execute option is missing. Add --dry-run to keep \
             this behaviour without this warning, or --execute to commit the new offsets."
        );
    }
    let partitions: Vec<TopicPartition> = if a.all_topics {
        admin.committed_offsets(&a.group).await?.into_keys().collect()
    } else {
        admin
            .resolve_partitions(&selections(&a.topic).map_err(|e| UsageError(e.to_string()))?)
            .await?
    };
    let plan = match admin.reset_offsets(&a.group, &partitions, &spec, a.execute).await {
        Err(kafkaroo::AdminError::Plan(m)) => return Err(UsageError(m).into()),
        other => other?,
    };
    for p in &plan {
        match p.adjustment {
            Some(Adjustment::ClampedToEnd { requested }) => eprintln!(
                "WARN New offset ({requested}) is higher than latest offset for topic partition {}. Value will be set to {}",
                p.partition, p.offset
            ),
            Some(Adjustment::ClampedToStart { requested }) => eprintln!(
                "WARN New offset ({requested}) is lower than earliest offset for topic partition {}. Value will be set to {}",
                p.partition, p.offset
            ),
            Some(Adjustment::NoRecordAtTimestamp) => eprintln!(
                "Warn: Partition {} from topic {} is empty. Falling back to latest known offset.",
                p.partition.partition, p.partition.topic
            ),
            Some(other) => eprintln!("WARN {other:?} for topic partition {}", p.partition),
            None => {}
        }
    }
    Ok(if a.export {
        plan.iter()
            .map(|p| format!("{},{},{}\n", p.partition.topic, p.partition.partition, p.offset))
            .collect::<String>()
            + "\n"
    } else {
        plan_table(&a.group, &plan)
    })
}

/// Java's `printOffsetsToReset`: `\n%-Gs %-Ts %-10s %s` per line (G, T at least 15), then a line break.
pub(crate) fn plan_table(group: &str, plan: &[PlannedOffset]) -> String {
    let gw = width(15, [group]);
    let tw = width(15, plan.iter().map(|p| p.partition.topic.as_str()));
    let mut out = format!(
        "\n{} {} {} NEW-OFFSET",
        pad("GROUP", gw),
        pad("TOPIC", tw),
        pad("PARTITION", 10)
    );
    for p in plan {
        out.push_str(&format!(
            "\n{} {} {} {}",
            pad(group, gw),
            pad(&p.partition.topic, tw),
            pad(&p.partition.partition.to_string(), 10),
            p.offset
        ));
    }
    out.push('\n');
    out
}

pub(crate) async fn delete(admin: &GroupAdmin, a: &DeleteArgs) -> anyhow::Result<String> {
    admin.delete_group(&a.group).await?;
    Ok(format!(
        "Deletion of requested consumer groups ('{}') was successful.\n",
        a.group
    ))
}

/// `--delete-offsets`: Java's message and `TOPIC PARTITION STATUS` table; an error when a partition failed.
pub(crate) async fn delete_offsets(admin: &GroupAdmin, a: &DeleteOffsetsArgs) -> anyhow::Result<String> {
    let sel = selections(&a.topic).map_err(|e| UsageError(e.to_string()))?;
    let partitions = admin.resolve_partitions(&sel).await?;
    let results = admin.delete_offsets(&a.group, &partitions).await?;
    let failed = results.iter().any(|r| r.error.is_some());
    let tw = width(15, results.iter().map(|r| r.partition.topic.as_str()));
    let mut out = if failed {
        "\nError: Encountered some partition-level error, see the follow-up details.\n".to_owned()
    } else {
        format!("Request succeeded for deleting offsets from group {}.\n", a.group)
    };
    out.push_str(&format!(
        "\n{} {} {}",
        pad("TOPIC", tw),
        pad("PARTITION", 10),
        pad("STATUS", 15)
    ));
    for r in &results {
        let status = r
            .error
            .map_or_else(|| "Successful".to_owned(), |code| format!("Error: {code}"));
        out.push_str(&format!(
            "\n{} {} {}",
            pad(&r.partition.topic, tw),
            pad(&r.partition.partition.to_string(), 10),
            pad(&status, 15)
        ));
    }
    out.push('\n');
    if failed {
        print!("{out}");
        bail!("deleting some offsets of group {:?} failed", a.group);
    }
    Ok(out)
}

/// `--describe --state`: one row of `GROUP COORDINATOR (ID) ASSIGNMENT-STRATEGY STATE #MEMBERS`;
/// `verbose` adds `GROUP-EPOCH TARGET-ASSIGNMENT-EPOCH` before `#MEMBERS` (`-` for a classic group), as
/// Java 4.x's `--state --verbose`.
pub(crate) fn state_table(d: &GroupDescription, coordinator_address: Option<&str>, verbose: bool) -> String {
    let coordinator = format!("{}  ({})", coordinator_address.unwrap_or(MISSING), d.coordinator);
    let gw = width(15, [d.group_id.as_str()]);
    let cw = width(25, [coordinator.as_str()]);
    let strategy = if d.protocol.is_empty() {
        MISSING
    } else {
        &d.protocol
    };
    let line = |cells: &[&str]| {
        let mut l = format!(
            "\n{} {} {} {} ",
            pad(cells[0], gw),
            pad(cells[1], cw),
            pad(cells[2], 20),
            pad(cells[3], 20)
        );
        if verbose {
            l.push_str(&format!("{} {} ", pad(cells[4], 15), pad(cells[5], 25)));
        }
        l.push_str(cells[cells.len() - 1]);
        l
    };
    let group_epoch = shown(d.epochs.map(|e| e.group_epoch));
    let assignment_epoch = shown(d.epochs.map(|e| e.assignment_epoch));
    let members = d.members.len().to_string();
    let mut out = line(&[
        "GROUP",
        "COORDINATOR (ID)",
        "ASSIGNMENT-STRATEGY",
        "STATE",
        "GROUP-EPOCH",
        "TARGET-ASSIGNMENT-EPOCH",
        "#MEMBERS",
    ]);
    out.push_str(&line(&[
        &d.group_id,
        &coordinator,
        strategy,
        &d.state,
        &group_epoch,
        &assignment_epoch,
        &members,
    ]));
    out.push('\n');
    out
}

/// A value, or Java's `-` for none.
fn shown<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| MISSING.to_owned(), |v| v.to_string())
}

/// Java's text of a list of partitions: `topic:0,1;other:2`, `-` for none.
fn partitions_text(p: &[TopicPartition]) -> String {
    assignment_text(&MemberAssignment::Partitions(p.to_vec()))
}

/// `--describe --members --verbose`, as Java 4.x prints it: the member columns, `#PARTITIONS`, then
/// `CURRENT-EPOCH CURRENT-ASSIGNMENT TARGET-EPOCH TARGET-ASSIGNMENT`, and `UPGRADED` while a
/// consumer-protocol group has both classic and consumer members. Epochs and the target assignment
/// belong to the consumer protocol (KIP-848): `-` for a classic group. TARGET-EPOCH is the group's
/// target assignment epoch, the same on every row.
pub(crate) fn members_verbose_table(d: &GroupDescription) -> String {
    let static_members = d.members.iter().any(|m| m.group_instance_id.is_some());
    let current: Vec<String> = d.members.iter().map(|m| assignment_text(&m.assignment)).collect();
    let targets: Vec<String> = d
        .members
        .iter()
        .map(|m| {
            m.consumer
                .as_ref()
                .map_or_else(|| MISSING.to_owned(), |c| partitions_text(&c.target_assignment))
        })
        .collect();
    let upgraded: Vec<Option<bool>> = d
        .members
        .iter()
        .map(|m| m.consumer.as_ref().and_then(|c| c.upgraded))
        .collect();
    let migrating = upgraded.contains(&Some(true)) && upgraded.contains(&Some(false));
    let target_epoch = shown(d.epochs.map(|e| e.assignment_epoch));
    let super::MemberWidths { gw, cw, iw, hw, lw } = super::MemberWidths::of(d);
    let aw = width(20, current.iter().map(String::as_str));
    let tw = width(20, targets.iter().map(String::as_str));
    let line = |group: &str, id: &str, instance: &str, host: &str, client: &str, rest: [&str; 6]| {
        let mut l = format!("{} {} ", pad(group, gw), pad(id, cw));
        if static_members {
            l.push_str(&pad(instance, iw));
            l.push(' ');
        }
        l.push_str(&format!(
            "{} {} {} {} {} {} {}",
            pad(host, hw),
            pad(client, lw),
            pad(rest[0], 15),
            pad(rest[1], 15),
            pad(rest[2], aw),
            pad(rest[3], 15),
            pad(rest[4], tw)
        ));
        if migrating {
            l.push(' ');
            l.push_str(rest[5]);
        }
        l
    };
    let mut out = String::from("\n");
    out.push_str(&line(
        "GROUP",
        "CONSUMER-ID",
        "GROUP-INSTANCE-ID",
        "HOST",
        "CLIENT-ID",
        [
            "#PARTITIONS",
            "CURRENT-EPOCH",
            "CURRENT-ASSIGNMENT",
            "TARGET-EPOCH",
            "TARGET-ASSIGNMENT",
            "UPGRADED",
        ],
    ));
    out.push('\n');
    for (i, m) in d.members.iter().enumerate() {
        let count = m.assignment.partitions().len().to_string();
        let epoch = shown(m.consumer.as_ref().map(|c| c.member_epoch));
        let upgraded = shown(upgraded[i]);
        out.push_str(&line(
            &d.group_id,
            &m.member_id,
            m.group_instance_id.as_deref().unwrap_or(MISSING),
            &m.host,
            &m.client_id,
            [&count, &epoch, &current[i], &target_epoch, &targets[i], &upgraded],
        ));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use kafkaroo::admin::{ConsumerMemberDetails, GroupEpochs, MemberDescription};

    use super::*;

    #[test]
    fn datetimes_parse_as_javas_get_date_time() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00.000").unwrap(), 0);
        assert_eq!(
            parse_datetime("2024-02-29T12:34:56.789Z").unwrap(),
            1_709_210_096_789
        );
        assert_eq!(
            parse_datetime("2024-02-29T13:34:56.789+01:00").unwrap(),
            1_709_210_096_789
        );
        assert_eq!(
            parse_datetime("2024-02-29T10:34:56.789-02").unwrap(),
            1_709_210_096_789
        );
        for bad in [
            "2024-02-29",
            "2024-02-30T00:00:00.000",
            "2024-02-29T12:34:56",
            "2024-02-29T12:34:56.789+1",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_parse_as_javas_duration_parse() {
        assert_eq!(parse_duration_ms("PT1H").unwrap(), 3_600_000);
        assert_eq!(parse_duration_ms("P1DT2H3M4.5S").unwrap(), 93_784_500);
        assert_eq!(parse_duration_ms("PT0.001S").unwrap(), 1);
        assert_eq!(parse_duration_ms("-PT10M").unwrap(), -600_000);
        assert_eq!(parse_duration_ms("P2D").unwrap(), 172_800_000);
        for bad in ["P", "PT", "1H", "PT1X", "P1H"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plan_files_take_either_csv_layout() {
        let plan = parse_plan_csv("t,0,5\nt,1,7\n\n", "g").unwrap();
        assert_eq!(
            plan,
            BTreeMap::from([(TopicPartition::new("t", 0), 5), (TopicPartition::new("t", 1), 7)])
        );
        let plan = parse_plan_csv("g,t,0,5\nother,t,1,7\n", "g").unwrap();
        assert_eq!(plan, BTreeMap::from([(TopicPartition::new("t", 0), 5)]));
        assert!(parse_plan_csv("t,x,5", "g").is_err());
    }

    #[test]
    fn the_plan_table_is_javas() {
        let plan = vec![PlannedOffset {
            partition: TopicPartition::new("tt", 1),
            offset: 5,
            adjustment: None,
        }];
        assert_eq!(
            plan_table("g1", &plan),
            "\nGROUP           TOPIC           PARTITION  NEW-OFFSET\ng1              tt              1          5\n"
        );
    }

    fn member(id: &str, parts: Vec<TopicPartition>, upgraded: Option<bool>) -> MemberDescription {
        MemberDescription {
            member_id: id.into(),
            group_instance_id: None,
            client_id: "cli".into(),
            host: "/127.0.0.1".into(),
            assignment: MemberAssignment::Partitions(parts.clone()),
            consumer: upgraded.map(|u| ConsumerMemberDetails {
                member_epoch: 4,
                rack: None,
                subscribed_topic_names: vec!["t".into()],
                subscribed_topic_regex: None,
                target_assignment: if u { parts } else { vec![] },
                upgraded: Some(u),
            }),
        }
    }

    #[test]
    fn verbose_tables_show_epochs_and_upgraded_only_while_migrating() {
        let mut d = GroupDescription {
            group_id: "g".into(),
            state: "Stable".into(),
            protocol_type: "consumer".into(),
            protocol: "uniform".into(),
            coordinator: 0,
            members: vec![
                member(
                    "m-1",
                    vec![TopicPartition::new("t", 1), TopicPartition::new("t", 0)],
                    Some(true),
                ),
                member("m-2", vec![], Some(false)),
            ],
            epochs: Some(GroupEpochs {
                group_epoch: 5,
                assignment_epoch: 4,
            }),
        };
        let cells = |text: &str| -> Vec<Vec<String>> {
            text.lines()
                .filter(|l| !l.is_empty())
                .map(|l| l.split_whitespace().map(str::to_owned).collect())
                .collect()
        };
        let table = cells(&members_verbose_table(&d));
        assert_eq!(table[0].last().map(String::as_str), Some("UPGRADED"));
        assert_eq!(table[1][4..], ["2", "4", "t:0,1", "4", "t:0,1", "true"]);
        assert_eq!(table[2][4..], ["0", "4", "-", "4", "-", "false"]);
        d.members.truncate(1);
        let table = cells(&members_verbose_table(&d));
        assert_eq!(table[0].last().map(String::as_str), Some("TARGET-ASSIGNMENT"));
        let state = cells(&state_table(&d, Some("h:9092"), true));
        assert_eq!(state[1][4..], ["Stable", "5", "4", "1"]);
        d.epochs = None;
        let state = cells(&state_table(&d, Some("h:9092"), true));
        assert_eq!(state[1][5..], ["-", "-", "1"], "a classic group has no epochs");
    }
}
