//! Small server-rendered SVG charts for the dashboard: a stacked bar chart over time and a
//! horizontal bar chart of counts, with axes, tick and category labels, a legend, and a `<title>`
//! tooltip on every bar.
//!
//! The output is inline `<svg>` the page embeds with `|safe`, so this module is the one place that
//! writes markup by hand: every piece of text that goes in (source names, rule names and the like
//! are attacker-influenced) passes through [`escape`], and everything else is numbers we computed.
//! Colours are CSS classes (`fill-…`) styled by `app.css` for the light and dark themes: the CSP
//! forbids style attributes, so there are none. Each chart is `role="img"` with a `<title>` and a
//! `<desc>` it is labelled and described by.

use std::fmt::Write;

/// The stacked chart's drawing size (the SVG scales to its container through its `viewBox`).
const WIDTH: u32 = 720;
const HEIGHT: u32 = 260;
const LEFT: u32 = 48;
const RIGHT: u32 = 12;
const TOP: u32 = 32;
const BOTTOM: u32 = 40;
/// At most this many category labels under the x axis (the others are in the tooltips).
const MAX_X_LABELS: usize = 8;
/// Horizontal bars: the label column, a row's height, the longest label shown whole.
const LABEL_WIDTH: u32 = 180;
const ROW: u32 = 26;
const MAX_LABEL_CHARS: usize = 24;

/// Escapes text for SVG/HTML content and attribute values.
pub fn escape(text: &str) -> String {
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

/// A value axis from 0: its top and the step between ticks (both ≥ 1), at most five intervals,
/// steps of 1, 2 or 5 times a power of ten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// The axis' largest value.
    pub top: i64,
    /// The distance between ticks.
    pub step: i64,
}

impl Scale {
    /// The scale for values up to `max` (a `max` ≤ 0 gives the scale 0–1).
    pub fn for_max(max: i64) -> Scale {
        let max = max.max(1);
        let mut magnitude: i64 = 1;
        loop {
            for factor in [1, 2, 5] {
                let step = magnitude.saturating_mul(factor);
                if step.saturating_mul(5) >= max {
                    // Signed `div_ceil` is unstable: both are positive, so round up by hand.
                    let top = (max.saturating_add(step - 1) / step).saturating_mul(step);
                    return Scale { top, step };
                }
            }
            magnitude = magnitude.saturating_mul(10);
        }
    }

    /// The tick values from 0 to the top.
    pub fn ticks(&self) -> Vec<i64> {
        (0..=self.top / self.step).map(|i| i * self.step).collect()
    }

    /// `value`'s length in pixels on an axis `length` long.
    fn length(&self, value: i64, length: f64) -> f64 {
        value as f64 / self.top as f64 * length
    }
}

/// One series of a stacked chart: its legend name and its colour class.
#[derive(Debug, Clone)]
pub struct Series {
    /// The name in the legend and the tooltips.
    pub name: String,
    /// The CSS class that colours it (`fill-…`).
    pub class: &'static str,
}

/// One category (x position) of a stacked chart.
#[derive(Debug, Clone)]
pub struct Column {
    /// The label under the axis (when there is room).
    pub label: String,
    /// The label in the tooltips.
    pub full: String,
    /// A value per series, in the series' order.
    pub values: Vec<i64>,
}

/// A stacked bar chart: columns of series values.
#[derive(Debug, Clone)]
pub struct Stacked {
    /// The element id prefix (unique in the page).
    pub id: &'static str,
    /// What the chart shows (its `<title>`).
    pub title: String,
    /// The series, bottom first.
    pub series: Vec<Series>,
    /// The columns, left to right.
    pub columns: Vec<Column>,
}

/// One bar of a horizontal bar chart.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Its label.
    pub label: String,
    /// Its value.
    pub value: i64,
    /// The CSS class that colours it (`fill-…`).
    pub class: &'static str,
}

fn open(out: &mut String, id: &str, width: u32, height: u32, title: &str, desc: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" data-calseta-chart class=\"chart\" id=\"{id}\" viewBox=\"0 0 {width} {height}\" \
         role=\"img\" aria-labelledby=\"{id}-title\" aria-describedby=\"{id}-desc\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        escape(title),
        escape(desc)
    );
}

/// The label as shown: at most [`MAX_LABEL_CHARS`] characters, cut with an ellipsis.
fn shorten(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL_CHARS {
        label.to_string()
    } else {
        let mut short: String = label.chars().take(MAX_LABEL_CHARS - 1).collect();
        short.push('…');
        short
    }
}

/// The stacked chart as inline SVG, or `None` when every value is zero (the page shows its empty
/// state instead).
pub fn stacked(chart: &Stacked) -> Option<String> {
    let totals: Vec<i64> = chart.columns.iter().map(|c| c.values.iter().sum()).collect();
    let max = totals.iter().copied().max().unwrap_or(0);
    if max <= 0 {
        return None;
    }
    let scale = Scale::for_max(max);
    let plot_w = f64::from(WIDTH - LEFT - RIGHT);
    let plot_h = f64::from(HEIGHT - TOP - BOTTOM);
    let base = f64::from(HEIGHT - BOTTOM);
    let all: i64 = totals.iter().sum();
    let desc = format!(
        "{all} in all over {} intervals; the most in one interval is {max}. Hover a bar for its figures.",
        chart.columns.len()
    );
    let mut out = String::new();
    open(&mut out, chart.id, WIDTH, HEIGHT, &chart.title, &desc);

    // The legend, across the top.
    out.push_str("<g class=\"legend\">");
    let mut x = f64::from(LEFT);
    for series in &chart.series {
        let _ = write!(
            out,
            "<rect class=\"{}\" x=\"{x:.1}\" y=\"8\" width=\"10\" height=\"10\"/><text class=\"chart-label\" x=\"{:.1}\" y=\"17\">{}</text>",
            series.class,
            x + 14.0,
            escape(&series.name)
        );
        x += 22.0 + 7.0 * series.name.chars().count() as f64;
    }
    out.push_str("</g>");

    // The value axis with its grid.
    out.push_str("<g class=\"axis axis-y\">");
    for tick in scale.ticks() {
        let y = base - scale.length(tick, plot_h);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick-label\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{tick}</text>",
            WIDTH - RIGHT,
            LEFT - 6,
            y + 4.0
        );
    }
    let _ =
        write!(out, "<line class=\"axis-line\" x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{base}\"/></g>");

    // The bars, one group per column, stacked bottom up.
    let n = chart.columns.len().max(1);
    let slot = plot_w / n as f64;
    let bar_w = (slot * 0.8).max(1.0);
    out.push_str("<g class=\"bars\">");
    for (i, column) in chart.columns.iter().enumerate() {
        let x = f64::from(LEFT) + slot * i as f64 + (slot - bar_w) / 2.0;
        let mut y = base;
        for (series, value) in chart.series.iter().zip(&column.values) {
            if *value <= 0 {
                continue;
            }
            let h = scale.length(*value, plot_h);
            y -= h;
            let _ = write!(
                out,
                "<rect class=\"bar {}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" data-value=\"{value}\">\
                 <title>{} · {}: {value}</title></rect>",
                series.class,
                escape(&column.full),
                escape(&series.name)
            );
        }
    }
    out.push_str("</g>");

    // The category axis: a line and every k-th label.
    let every = chart.columns.len().div_ceil(MAX_X_LABELS).max(1);
    let _ = write!(
        out,
        "<g class=\"axis axis-x\"><line class=\"axis-line\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{base}\" y2=\"{base}\"/>",
        WIDTH - RIGHT
    );
    for (i, column) in chart.columns.iter().enumerate().step_by(every) {
        let x = f64::from(LEFT) + slot * (i as f64 + 0.5);
        let _ = write!(
            out,
            "<text class=\"tick-label\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            base + 16.0,
            escape(&column.label)
        );
    }
    out.push_str("</g></svg>");
    Some(out)
}

/// A horizontal bar chart of `bars` as inline SVG, or `None` when there is nothing to draw.
pub fn bars(id: &'static str, title: &str, bars: &[Bar]) -> Option<String> {
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0);
    if bars.is_empty() || max <= 0 {
        return None;
    }
    let scale = Scale::for_max(max);
    let height = TOP + ROW * bars.len() as u32 + BOTTOM - 12;
    let plot_w = f64::from(WIDTH - LABEL_WIDTH - RIGHT - 36);
    let base = f64::from(height - BOTTOM + 12);
    let desc = bars.iter().map(|b| format!("{}: {}", b.label, b.value)).collect::<Vec<_>>().join("; ");
    let mut out = String::new();
    open(&mut out, id, WIDTH, height, title, &desc);

    out.push_str("<g class=\"axis axis-x\">");
    for tick in scale.ticks() {
        let x = f64::from(LABEL_WIDTH) + scale.length(tick, plot_w);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{}\" y2=\"{base}\"/>\
             <text class=\"tick-label\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{tick}</text>",
            TOP - 8,
            base + 16.0
        );
    }
    let _ = write!(
        out,
        "<line class=\"axis-line\" x1=\"{LABEL_WIDTH}\" x2=\"{}\" y1=\"{base}\" y2=\"{base}\"/>\
         <line class=\"axis-line\" x1=\"{LABEL_WIDTH}\" x2=\"{LABEL_WIDTH}\" y1=\"{}\" y2=\"{base}\"/></g>",
        f64::from(LABEL_WIDTH) + plot_w,
        TOP - 8
    );

    out.push_str("<g class=\"bars\">");
    for (i, bar) in bars.iter().enumerate() {
        let y = f64::from(TOP - 4 + ROW * i as u32);
        let w = scale.length(bar.value.max(0), plot_w);
        let label = escape(&bar.label);
        let _ = write!(
            out,
            "<text class=\"chart-label\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect class=\"bar {}\" x=\"{LABEL_WIDTH}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{}\" data-value=\"{}\">\
             <title>{label}: {}</title></rect>\
             <text class=\"tick-label\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            LABEL_WIDTH - 8,
            y + 13.0,
            escape(&shorten(&bar.label)),
            bar.class,
            ROW - 8,
            bar.value,
            bar.value,
            f64::from(LABEL_WIDTH) + w + 4.0,
            y + 13.0,
            bar.value
        );
    }
    out.push_str("</g></svg>");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_use_one_two_five_steps_and_cover_the_maximum() {
        assert_eq!(Scale::for_max(0), Scale { top: 1, step: 1 });
        assert_eq!(Scale::for_max(1), Scale { top: 1, step: 1 });
        assert_eq!(Scale::for_max(5), Scale { top: 5, step: 1 });
        assert_eq!(Scale::for_max(7), Scale { top: 8, step: 2 });
        assert_eq!(Scale::for_max(23), Scale { top: 25, step: 5 });
        assert_eq!(Scale::for_max(100), Scale { top: 100, step: 20 });
        assert_eq!(Scale::for_max(101), Scale { top: 150, step: 50 });
        assert_eq!(Scale::for_max(9_999), Scale { top: 10_000, step: 2_000 });
        for max in 1..500 {
            let scale = Scale::for_max(max);
            assert!(scale.top >= max && scale.top / scale.step <= 5, "{max}: {scale:?}");
        }
    }

    #[test]
    fn ticks_run_from_zero_to_the_top() {
        assert_eq!(Scale::for_max(7).ticks(), vec![0, 2, 4, 6, 8]);
        assert_eq!(Scale::for_max(1).ticks(), vec![0, 1]);
    }

    fn chart(values: &[i64]) -> Stacked {
        Stacked {
            id: "t",
            title: "Alerts <by> severity".into(),
            series: vec![
                Series { name: "High".into(), class: "fill-sev-high" },
                Series { name: "Low".into(), class: "fill-sev-low" },
            ],
            columns: values
                .iter()
                .enumerate()
                .map(|(i, v)| Column {
                    label: format!("d{i}"),
                    full: format!("day <{i}>"),
                    values: vec![*v, 1],
                })
                .collect(),
        }
    }

    #[test]
    fn empty_data_draws_nothing() {
        assert_eq!(stacked(&Stacked { columns: vec![], ..chart(&[]) }), None);
        let zeros = Stacked {
            columns: vec![Column { label: "a".into(), full: "a".into(), values: vec![0, 0] }],
            ..chart(&[])
        };
        assert_eq!(stacked(&zeros), None);
        assert_eq!(bars("b", "t", &[]), None);
        assert_eq!(bars("b", "t", &[Bar { label: "x".into(), value: 0, class: "fill-a" }]), None);
    }

    #[test]
    fn a_stacked_chart_has_axes_labels_and_a_title_per_bar() {
        let svg = stacked(&chart(&[2, 0, 3])).unwrap();
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(svg.contains("role=\"img\"") && svg.contains("aria-labelledby=\"t-title\""));
        assert!(svg.contains("<title id=\"t-title\">Alerts &lt;by&gt; severity</title>"));
        assert!(svg.contains("axis-y") && svg.contains("axis-x"));
        // Two high bars, three low bars (zeros are not drawn), each with its tooltip.
        assert_eq!(svg.matches("<rect class=\"bar ").count(), 5);
        assert_eq!(svg.matches("<title>").count(), 5);
        assert!(svg.contains("<title>day &lt;2&gt; · High: 3</title>"));
        // The scale's top (4 = 3 + 1) and zero are labelled.
        assert!(svg.contains(">4</text>") && svg.contains(">0</text>"));
        assert!(svg.contains(">d0</text>") && svg.contains(">d2</text>"));
        assert!(!svg.contains("style"));
    }

    #[test]
    fn many_columns_keep_at_most_eight_axis_labels() {
        let values: Vec<i64> = (0..48).collect();
        let svg = stacked(&chart(&values)).unwrap();
        let labels = (0..48).filter(|i| svg.contains(&format!(">d{i}</text>"))).count();
        assert!((1..=MAX_X_LABELS).contains(&labels), "{labels}");
        assert_eq!(svg.matches("<title>day").count(), 48 + 47);
    }

    #[test]
    fn bar_labels_are_escaped_and_long_ones_shortened() {
        let svg = bars(
            "src",
            "By source",
            &[
                Bar { label: "<script>alert(1)</script>".into(), value: 3, class: "fill-a" },
                Bar { label: "x".repeat(40), value: 1, class: "fill-a" },
            ],
        )
        .unwrap();
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("<title>&lt;script&gt;alert(1)&lt;/script&gt;: 3</title>"));
        assert!(svg.contains(&format!("{}…", "x".repeat(MAX_LABEL_CHARS - 1))));
        assert!(svg.contains(&format!("<title>{}: 1</title>", "x".repeat(40))));
        assert_eq!(escape("a&\"'"), "a&amp;&quot;&#39;");
    }
}
