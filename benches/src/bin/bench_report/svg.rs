//! Inline SVG charts: grouped bars and a strip plot with boxes. Plain strings, no JavaScript; every
//! mark carries its value in `data-*` attributes (and a `<title>` tooltip).

use std::fmt::Write as _;

/// Text for HTML and inline SVG: `&`, `<`, `>`, `"` and `'` escaped.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Colours of the series, in order of first appearance (colour-blind safe, Okabe-Ito).
pub(crate) const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
];

pub(crate) fn colour(index: usize) -> &'static str {
    PALETTE[index % PALETTE.len()]
}

/// Bars in groups (e.g. one group per codec, one bar per client); `series` names the bars' colours.
pub(crate) struct Bars {
    pub(crate) unit: String,
    pub(crate) series: Vec<String>,
    /// Group label, then (series index, value) per bar.
    pub(crate) groups: Vec<(String, Vec<(usize, f64)>)>,
}

const PLOT_HEIGHT: f64 = 260.0;
const TOP: f64 = 20.0;
const LEFT: f64 = 80.0;
const BOTTOM: f64 = 40.0;
const BAR_WIDTH: f64 = 22.0;
const GROUP_GAP: f64 = 34.0;

/// The smallest 1, 2 or 5 times a power of ten at or above `max` (1 when `max` is not positive).
pub(crate) fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|v| *v >= max * (1.0 - 1e-12))
        .unwrap_or(10.0 * power)
}

/// 1234567 -> "1.23M", 0.125 -> "0.125", 2000000 -> "2M", 0 -> "0".
pub(crate) fn short_number(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix, decimals) = if a >= 1e9 {
        (v / 1e9, "G", 2)
    } else if a >= 1e6 {
        (v / 1e6, "M", 2)
    } else if a >= 1e5 {
        (v / 1e3, "k", 0)
    } else if a >= 1e4 {
        (v / 1e3, "k", 1)
    } else if a >= 100.0 {
        (v, "", 0)
    } else if a >= 1.0 {
        (v, "", 2)
    } else {
        (v, "", 3)
    };
    let text = format!("{scaled:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}{suffix}")
}

/// The y axis: grid lines and labels at 5 steps from 0 to `top_value`.
fn y_axis(svg: &mut String, width: f64, top_value: f64, unit: &str) {
    for i in 0..=5 {
        let v = top_value * f64::from(i) / 5.0;
        let y = TOP + PLOT_HEIGHT - PLOT_HEIGHT * f64::from(i) / 5.0;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{width:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"##,
            LEFT - 6.0,
            y + 4.0,
            short_number(v)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="14" y="{:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {:.1})">{}</text>"#,
        TOP + PLOT_HEIGHT / 2.0,
        TOP + PLOT_HEIGHT / 2.0,
        escape(unit)
    );
}

fn open_svg(svg: &mut String, width: f64, height: f64) {
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif">"#
    );
}

/// Grouped bars; each bar's height is its value over the axis maximum times the plot height.
pub(crate) fn bar_chart(bars: &Bars) -> String {
    let max = bars
        .groups
        .iter()
        .flat_map(|(_, b)| b.iter().map(|(_, v)| *v))
        .fold(0.0, f64::max);
    let top_value = nice_ceiling(max);
    let group_widths: Vec<f64> = bars
        .groups
        .iter()
        .map(|(_, b)| b.len() as f64 * BAR_WIDTH + GROUP_GAP)
        .collect();
    let width = LEFT + group_widths.iter().sum::<f64>() + 10.0;
    let height = TOP + PLOT_HEIGHT + BOTTOM;
    let mut svg = String::new();
    open_svg(&mut svg, width, height);
    y_axis(&mut svg, width - 10.0, top_value, &bars.unit);
    let mut x = LEFT + GROUP_GAP / 2.0;
    for ((label, group), group_width) in bars.groups.iter().zip(&group_widths) {
        for (i, (series, value)) in group.iter().enumerate() {
            let h = value / top_value * PLOT_HEIGHT;
            let bx = x + i as f64 * BAR_WIDTH;
            let name = bars.series.get(*series).map_or("", String::as_str);
            let _ = write!(
                svg,
                r#"<rect class="bar" data-group="{g}" data-series="{s}" data-value="{value}" x="{bx:.1}" y="{:.2}" width="{:.1}" height="{h:.2}" fill="{}"><title>{s} | {g}: {} {}</title></rect>"#,
                TOP + PLOT_HEIGHT - h,
                BAR_WIDTH - 2.0,
                colour(*series),
                short_number(*value),
                escape(&bars.unit),
                g = escape(label),
                s = escape(name),
            );
            // The value above the bar, small: the short bars next to a tall one stay readable.
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.2}" font-size="8" text-anchor="middle">{}</text>"#,
                bx + (BAR_WIDTH - 2.0) / 2.0,
                TOP + PLOT_HEIGHT - h - 3.0,
                short_number(*value)
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            x + (group_width - GROUP_GAP) / 2.0,
            TOP + PLOT_HEIGHT + 18.0,
            escape(label)
        );
        x += group_width;
    }
    svg.push_str("</svg>");
    svg
}

/// Values per category (e.g. the pauses of every run of "kafkaroo classic"), as points with a box from
/// the first to the third quartile, a line at the median and whiskers to the extremes.
pub(crate) struct Strips {
    pub(crate) unit: String,
    /// Category name, then (run number, value) per point.
    pub(crate) categories: Vec<(String, Vec<(usize, f64)>)>,
}

const STRIP_WIDTH: f64 = 130.0;

/// Quartile by linear interpolation between the sorted values.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub(crate) fn strip_chart(strips: &Strips) -> String {
    let max = strips
        .categories
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, v)| *v))
        .fold(0.0, f64::max);
    let top_value = nice_ceiling(max);
    let width = LEFT + strips.categories.len() as f64 * STRIP_WIDTH + 10.0;
    let height = TOP + PLOT_HEIGHT + BOTTOM;
    let y = |v: f64| TOP + PLOT_HEIGHT - v / top_value * PLOT_HEIGHT;
    let mut svg = String::new();
    open_svg(&mut svg, width, height);
    y_axis(&mut svg, width - 10.0, top_value, &strips.unit);
    for (k, (name, points)) in strips.categories.iter().enumerate() {
        let centre = LEFT + (k as f64 + 0.5) * STRIP_WIDTH;
        let mut sorted: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
        sorted.sort_by(f64::total_cmp);
        if let (Some(&lo), Some(&hi)) = (sorted.first(), sorted.last()) {
            let (q1, q2, q3) = (
                quantile(&sorted, 0.25),
                quantile(&sorted, 0.5),
                quantile(&sorted, 0.75),
            );
            let _ = write!(
                svg,
                r##"<line x1="{centre:.1}" x2="{centre:.1}" y1="{:.2}" y2="{:.2}" stroke="#888"/><rect class="box" x="{:.1}" y="{:.2}" width="60" height="{:.2}" fill="none" stroke="#555"/><line class="median" data-value="{q2}" x1="{:.1}" x2="{:.1}" y1="{:.2}" y2="{:.2}" stroke="#000" stroke-width="2"/>"##,
                y(hi),
                y(lo),
                centre - 30.0,
                y(q3),
                y(q1) - y(q3),
                centre - 30.0,
                centre + 30.0,
                y(q2),
                y(q2),
            );
        }
        let runs = points.iter().map(|(r, _)| *r).max().unwrap_or(1).max(1);
        for (run, value) in points {
            // Runs side by side inside the strip, so that one run's points stay together.
            let dx = (*run as f64 - (runs as f64 + 1.0) / 2.0) * 10.0;
            let _ = write!(
                svg,
                r#"<circle class="pause" data-category="{n}" data-value="{value}" cx="{:.1}" cy="{:.2}" r="4" fill="{}" fill-opacity="0.7"><title>{n}, run {run}: {value:.0} {}</title></circle>"#,
                centre + dx,
                y(*value),
                colour(k),
                escape(&strips.unit),
                n = escape(name),
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{centre:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            TOP + PLOT_HEIGHT + 18.0,
            escape(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
        assert_eq!(nice_ceiling(1234.0), 2000.0);
        assert_eq!(nice_ceiling(0.31), 0.5);
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(2e6), "2M");
        assert_eq!(short_number(1_234_567.0), "1.23M");
        assert_eq!(short_number(400_000.0), "400k");
        assert_eq!(short_number(757_576.0), "758k");
        assert_eq!(short_number(12_345.0), "12.3k");
        assert_eq!(short_number(0.125), "0.125");
        assert_eq!(short_number(250.0), "250");
    }

    #[test]
    fn quartiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.25), 2.0);
        assert_eq!(quantile(&[1.0, 2.0], 0.5), 1.5);
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
