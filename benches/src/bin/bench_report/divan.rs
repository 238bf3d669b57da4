//! Reads divan's text output (the tree of benchmarks with fastest / slowest / median / mean columns and
//! a throughput line per counter) into rows: divan 0.1 has no machine-readable output.

use anyhow::{Context, bail};

/// One benchmark case: a decoder (`kafkaroo_ref`) on one input (`lz4/100`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DivanRow {
    pub(crate) group: String,
    pub(crate) case: String,
    pub(crate) fastest_ns: f64,
    pub(crate) median_ns: f64,
    /// Bytes per second (decimal), from the `BytesCount` counter line.
    pub(crate) fastest_bytes_per_s: Option<f64>,
    pub(crate) median_bytes_per_s: Option<f64>,
    /// Items (records) per second, from the `ItemsCount` counter line.
    pub(crate) median_items_per_s: Option<f64>,
}

const BRANCHES: [&str; 2] = ["├─ ", "╰─ "];

/// Parses the whole stdout of a divan benchmark binary. Rows come in output order; a leaf directly under
/// the root (a benchmark without arguments) has an empty `case`.
pub(crate) fn parse(text: &str) -> anyhow::Result<Vec<DivanRow>> {
    let mut rows: Vec<DivanRow> = Vec::new();
    let mut group = String::new();
    for (n, line) in text.lines().enumerate() {
        parse_line(line, &mut group, &mut rows)
            .with_context(|| format!("divan output line {}: {line:?}", n + 1))?;
    }
    if rows.is_empty() {
        bail!("no benchmark results in the divan output (was it the stdout of `cargo bench`?)");
    }
    Ok(rows)
}

fn parse_line(line: &str, group: &mut String, rows: &mut Vec<DivanRow>) -> anyhow::Result<()> {
    if line.contains("fastest") && line.contains("median") || line.starts_with("Timer precision") {
        return Ok(());
    }
    if let Some((byte_at, branch)) = BRANCHES
        .iter()
        .filter_map(|b| line.find(b).map(|i| (i, *b)))
        .min_by_key(|(i, _)| *i)
    {
        let depth = line[..byte_at].chars().count() / 3;
        let rest = &line[byte_at + branch.len()..];
        let mut columns = rest.split('│');
        let first = columns.next().unwrap_or_default().trim();
        let (name, fastest) = match first.split_once("  ") {
            Some((name, fastest)) => (name.trim(), Some(fastest.trim())),
            None => (first, None),
        };
        let Some(fastest) = fastest.filter(|f| !f.is_empty()) else {
            // A group (function with arguments): its cases follow one level deeper.
            if depth == 0 {
                *group = name.to_owned();
            }
            return Ok(());
        };
        let rest: Vec<&str> = columns.map(str::trim).collect();
        let median = rest.get(1).context("no median column")?;
        let (group, case) = if depth == 0 {
            (name.to_owned(), String::new())
        } else {
            (group.clone(), name.to_owned())
        };
        rows.push(DivanRow {
            group,
            case,
            fastest_ns: duration_ns(fastest)?,
            median_ns: duration_ns(median)?,
            fastest_bytes_per_s: None,
            median_bytes_per_s: None,
            median_items_per_s: None,
        });
        return Ok(());
    }
    // A counter line below the last leaf: its values are the only non-empty cells.
    let cells: Vec<&str> = line.split('│').map(str::trim).filter(|c| !c.is_empty()).collect();
    if cells.is_empty() {
        return Ok(());
    }
    let row = rows
        .last_mut()
        .context("a throughput line before any benchmark")?;
    let (fastest, median) = (cells[0], *cells.get(2).context("no median column")?);
    if fastest.ends_with("item/s") {
        row.median_items_per_s = Some(rate(median, "item/s")?);
    } else if fastest.ends_with("B/s") {
        row.fastest_bytes_per_s = Some(rate(fastest, "B/s")?);
        row.median_bytes_per_s = Some(rate(median, "B/s")?);
    }
    Ok(())
}

/// "15.6 ms" -> 15_600_000.
fn duration_ns(cell: &str) -> anyhow::Result<f64> {
    let (number, unit) = cell
        .split_once(' ')
        .with_context(|| format!("{cell:?}: not a duration"))?;
    let scale = match unit {
        "ps" => 1e-3,
        "ns" => 1.0,
        "µs" | "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => bail!("{cell:?}: unknown time unit {unit:?}"),
    };
    Ok(number
        .parse::<f64>()
        .with_context(|| format!("{cell:?}: not a number"))?
        * scale)
}

/// "2.1 GB/s" -> 2.1e9, "3 GiB/s" -> 3 * 2^30, "4.5 Mitem/s" -> 4.5e6 (`unit` is "B/s" or "item/s").
fn rate(cell: &str, unit: &str) -> anyhow::Result<f64> {
    let (number, suffix) = cell
        .split_once(' ')
        .with_context(|| format!("{cell:?}: not a rate"))?;
    let prefix = suffix
        .strip_suffix(unit)
        .with_context(|| format!("{cell:?}: expected a rate in {unit}"))?;
    let scale = match prefix {
        "" => 1.0,
        "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => bail!("{cell:?}: unknown unit prefix {prefix:?}"),
    };
    Ok(number
        .parse::<f64>()
        .with_context(|| format!("{cell:?}: not a number"))?
        * scale)
}

/// The decode results as JSON (what `bench_report html --decode` reads).
pub(crate) fn to_json(rows: &[DivanRow]) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "decoder": r.group,
                "case": r.case,
                "fastest_ns": r.fastest_ns,
                "median_ns": r.median_ns,
                "fastest_gb_per_s": r.fastest_bytes_per_s.map(|b| b / 1e9),
                "median_gb_per_s": r.median_bytes_per_s.map(|b| b / 1e9),
                "median_records_per_s": r.median_items_per_s,
            })
        })
        .collect();
    serde_json::json!({ "benchmark": "decode", "rows": rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of `cargo bench --bench decode` output (divan 0.1.21), cut down.
    const SAMPLE: &str = "\
Timer precision: 20 ns
decode                  fastest       │ slowest       │ median        │ mean          │ samples │ iters
├─ kafka_protocol                     │               │               │               │         │
│  ├─ lz4/100           4.5 ms        │ 6 ms          │ 5 ms          │ 5.1 ms        │ 10      │ 10
│  │                    7.3 Mitem/s   │ 5.5 Mitem/s   │ 6.6 Mitem/s   │ 6.5 Mitem/s   │         │
│  │                    920 MB/s      │ 690 MB/s      │ 828 MB/s      │ 812 MB/s      │         │
│  ╰─ none/100          3.5 ms        │ 4 ms          │ 3.6 ms        │ 3.7 ms        │ 10      │ 10
│                       9.5 Mitem/s   │ 8.3 Mitem/s   │ 9.2 Mitem/s   │ 9 Mitem/s     │         │
│                       1.2 GB/s      │ 1.05 GB/s     │ 1.16 GB/s     │ 1.1 GB/s      │         │
╰─ kafkaroo_ref                       │               │               │               │         │
   ╰─ zstd/1024         7.9 ms        │ 9 ms          │ 8.1 ms        │ 8.2 ms        │ 10      │ 10
                        510 Kitem/s   │ 440 Kitem/s   │ 500 Kitem/s   │ 490 Kitem/s   │         │
                        0.5 GiB/s     │ 460 MiB/s     │ 500 MiB/s     │ 490 MiB/s     │         │
";

    #[test]
    fn reads_every_case_with_its_group_and_throughput() {
        let rows = parse(SAMPLE).unwrap();
        let names: Vec<(&str, &str)> = rows.iter().map(|r| (r.group.as_str(), r.case.as_str())).collect();
        assert_eq!(
            names,
            [
                ("kafka_protocol", "lz4/100"),
                ("kafka_protocol", "none/100"),
                ("kafkaroo_ref", "zstd/1024")
            ]
        );
        assert_eq!(rows[0].fastest_ns, 4.5e6);
        assert_eq!(rows[0].median_ns, 5e6);
        assert_eq!(rows[0].median_bytes_per_s, Some(828e6));
        assert_eq!(rows[0].median_items_per_s, Some(6.6e6));
        assert_eq!(rows[1].fastest_bytes_per_s, Some(1.2e9));
        assert_eq!(rows[2].median_bytes_per_s, Some(500.0 * 1024.0 * 1024.0));
        assert_eq!(rows[2].fastest_bytes_per_s, Some(0.5 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(rows[2].median_items_per_s, Some(500e3));
    }

    #[test]
    fn an_unknown_unit_is_an_error_naming_the_line() {
        let text = SAMPLE.replace("828 MB/s", "828 XB/s");
        let err = format!("{:#}", parse(&text).unwrap_err());
        assert!(err.contains("line 6") && err.contains("XB/s"), "{err}");
    }

    #[test]
    fn output_without_results_is_an_error() {
        let err = parse("Timer precision: 20 ns\n").unwrap_err().to_string();
        assert!(err.contains("no benchmark results"), "{err}");
    }
}
