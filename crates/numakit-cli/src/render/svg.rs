//! Benchmark reports as SVG pictures: matrices as heatmaps (one panel per
//! kernel or copy kind), loaded latency as curves, policies, first touch
//! and weights as bars. Written by hand: a picture is a few dozen
//! rectangles, lines and labels, and every string is escaped.

use std::fmt::Write;

use numakit_bench::gpu::{Direction, HostMemory};
use numakit_bench::{
    BandwidthResult, FirstTouchResult, GpuResult, LatencyResult, LoadedResult, Matrix,
    PolicyResult, Report, WeightsResult,
};

/// One heatmap: a title, row and column labels, values (`None`: not
/// measured) and the unit.
struct Panel {
    title: String,
    rows: Vec<String>,
    cols: Vec<String>,
    values: Vec<Vec<Option<f64>>>,
    unit: &'static str,
}

fn esc(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            c if c.is_control() => " ".into(),
            c => c.to_string(),
        })
        .collect()
}

fn panel<T>(title: String, m: &Matrix<T>, unit: &'static str, f: impl Fn(&T) -> f64) -> Panel {
    Panel {
        title,
        rows: m
            .initiators
            .iter()
            .map(|n| format!("from node {n}"))
            .collect(),
        cols: m.targets.iter().map(|n| format!("node {n}")).collect(),
        values: m
            .initiators
            .iter()
            .map(|i| m.targets.iter().map(|t| m.get(*i, *t).map(&f)).collect())
            .collect(),
        unit,
    }
}

/// The picture: a white page, the title, the methodology wrapped to the
/// width, and the body below them.
fn document(w: f64, h: f64, title: &str, subtitle: &str, body: &str) -> String {
    let lines = wrap(subtitle, ((w - 32.0) / 5.6).max(40.0) as usize);
    let extra = 12.0 * lines.len().saturating_sub(1) as f64;
    let mut sub = String::new();
    for (i, l) in lines.iter().enumerate() {
        let _ = write!(
            sub,
            "<tspan x=\"16\" dy=\"{}\">{}</tspan>",
            if i == 0 { 0 } else { 12 },
            esc(l)
        );
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{:.0}\" viewBox=\"0 0 {w:.0} {:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"16\" y=\"24\" font-size=\"16\" font-weight=\"bold\">{}</text>\n\
         <text x=\"16\" y=\"42\" fill=\"#555\" font-size=\"10\">{sub}</text>\n<g transform=\"translate(0 {extra:.0})\">\n{body}</g>\n</svg>\n",
        h + extra,
        h + extra,
        esc(title),
    )
}

/// Splits `s` into lines of at most `width` characters at spaces.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in s.split_whitespace() {
        let cur = lines.last_mut().expect("never empty");
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
    }
    lines
}

/// White to dark blue by where `v` lies in `[lo, hi]`.
fn shade(v: f64, lo: f64, hi: f64) -> (String, &'static str) {
    let t = if hi > lo {
        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.5
    };
    let (r, g, b) = (
        (230.0 - 200.0 * t) as u8,
        (240.0 - 170.0 * t) as u8,
        (255.0 - 95.0 * t) as u8,
    );
    (
        format!("#{r:02x}{g:02x}{b:02x}"),
        if t > 0.55 { "white" } else { "black" },
    )
}

fn heatmaps(title: &str, subtitle: &str, panels: &[Panel]) -> String {
    let (cw, ch, lw) = (96.0, 40.0, 96.0);
    let mut body = String::new();
    let mut y = 64.0;
    let mut width: f64 = 480.0;
    for p in panels {
        let vals: Vec<f64> = p.values.iter().flatten().flatten().copied().collect();
        let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let _ = writeln!(
            body,
            "<text x=\"16\" y=\"{y:.0}\" font-weight=\"bold\">{} ({})</text>",
            esc(&p.title),
            p.unit
        );
        y += 12.0;
        for (j, c) in p.cols.iter().enumerate() {
            let x = 16.0 + lw + j as f64 * cw + cw / 2.0;
            let _ = writeln!(
                body,
                "<text x=\"{x:.0}\" y=\"{:.0}\" text-anchor=\"middle\">{}</text>",
                y + 10.0,
                esc(c)
            );
        }
        y += 16.0;
        for (i, r) in p.rows.iter().enumerate() {
            let ry = y + i as f64 * ch;
            let _ = writeln!(
                body,
                "<text x=\"16\" y=\"{:.0}\">{}</text>",
                ry + ch / 2.0 + 4.0,
                esc(r)
            );
            for (j, v) in p.values[i].iter().enumerate() {
                let x = 16.0 + lw + j as f64 * cw;
                let (fill, ink, label) = match v {
                    Some(v) => {
                        let (f, k) = shade(*v, lo, hi);
                        (f, k, format!("{v:.1}"))
                    }
                    None => ("#eeeeee".into(), "#999", "-".into()),
                };
                let _ = writeln!(
                    body,
                    "<rect x=\"{x:.0}\" y=\"{ry:.0}\" width=\"{:.0}\" height=\"{:.0}\" fill=\"{fill}\" stroke=\"white\"/><text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\" fill=\"{ink}\">{label}</text>",
                    cw - 2.0,
                    ch - 2.0,
                    x + cw / 2.0,
                    ry + ch / 2.0 + 4.0
                );
            }
        }
        width = width.max(32.0 + lw + p.cols.len() as f64 * cw);
        y += p.rows.len() as f64 * ch + 24.0;
    }
    document(width, y, title, subtitle, &body)
}

/// Labelled values of a bar group (`None`: not measured).
type BarItems = Vec<(String, Option<f64>)>;

/// Horizontal bars: one group per unit.
fn bars(title: &str, subtitle: &str, groups: &[(&str, BarItems)]) -> String {
    let (lw, bw, bh) = (220.0, 320.0, 22.0);
    let mut body = String::new();
    let mut y = 64.0;
    for (unit, items) in groups {
        let hi = items
            .iter()
            .filter_map(|(_, v)| *v)
            .fold(0.0, f64::max)
            .max(1e-9);
        let _ = writeln!(
            body,
            "<text x=\"16\" y=\"{y:.0}\" font-weight=\"bold\">{}</text>",
            esc(unit)
        );
        y += 10.0;
        for (name, v) in items {
            let _ = writeln!(
                body,
                "<text x=\"16\" y=\"{:.0}\">{}</text>",
                y + 15.0,
                esc(name)
            );
            match v {
                Some(v) => {
                    let w = (v / hi * bw).max(1.0);
                    let _ = writeln!(
                        body,
                        "<rect x=\"{lw}\" y=\"{y:.0}\" width=\"{w:.0}\" height=\"{:.0}\" fill=\"#3b6fb6\"/><text x=\"{:.0}\" y=\"{:.0}\">{v:.1}</text>",
                        bh - 4.0,
                        lw + w + 6.0,
                        y + 15.0
                    );
                }
                None => {
                    let _ = writeln!(
                        body,
                        "<text x=\"{lw}\" y=\"{:.0}\" fill=\"#999\">not measured</text>",
                        y + 15.0
                    );
                }
            }
            y += bh;
        }
        y += 20.0;
    }
    document(lw + bw + 120.0, y, title, subtitle, &body)
}

/// The plot area of [`curves`]: origin, size, and the data's maxima.
struct Frame {
    x0: f64,
    y0: f64,
    w: f64,
    h: f64,
    xmax: f64,
    ymax: f64,
}

impl Frame {
    fn x(&self, v: f64) -> f64 {
        self.x0 + v / self.xmax * self.w
    }
    fn y(&self, v: f64) -> f64 {
        self.y0 + self.h - v / self.ymax * self.h
    }

    /// Axes, five ticks on each, and the labels.
    fn axes(&self, body: &mut String, x_label: &str, y_label: &str) {
        let (x0, y0, w, h) = (self.x0, self.y0, self.w, self.h);
        let _ = writeln!(
            body,
            "<line x1=\"{x0}\" y1=\"{:.0}\" x2=\"{:.0}\" y2=\"{:.0}\" stroke=\"black\"/>",
            y0 + h,
            x0 + w,
            y0 + h
        );
        let _ = writeln!(
            body,
            "<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{:.0}\" stroke=\"black\"/>",
            y0 + h
        );
        for i in 0..=4 {
            let (xv, yv) = (
                self.xmax * f64::from(i) / 4.0,
                self.ymax * f64::from(i) / 4.0,
            );
            let _ = writeln!(
                body,
                "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\" font-size=\"10\">{xv:.1}</text>",
                self.x(xv),
                y0 + h + 14.0
            );
            let _ = writeln!(
                body,
                "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\" font-size=\"10\">{yv:.0}</text>",
                x0 - 6.0,
                self.y(yv) + 4.0
            );
        }
        let _ = writeln!(
            body,
            "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\">{}</text>",
            x0 + w / 2.0,
            y0 + h + 32.0,
            esc(x_label)
        );
        let _ = writeln!(
            body,
            "<text x=\"16\" y=\"{:.0}\" transform=\"rotate(-90 16 {:.0})\" text-anchor=\"middle\">{}</text>",
            y0 + h / 2.0,
            y0 + h / 2.0,
            esc(y_label)
        );
    }
}

/// Lines through points, with axes.
fn curves(
    title: &str,
    subtitle: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> String {
    let pts: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let f = Frame {
        x0: 70.0,
        y0: 70.0,
        w: 520.0,
        h: 300.0,
        xmax: pts.iter().map(|p| p.0).fold(0.0, f64::max).max(1e-9) * 1.05,
        ymax: pts.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9) * 1.1,
    };
    let mut body = String::new();
    f.axes(&mut body, x_label, y_label);
    let colors = [
        "#3b6fb6", "#d1495b", "#2e933c", "#edae49", "#6c4f9c", "#00798c",
    ];
    for (k, (name, p)) in series.iter().enumerate() {
        let c = colors[k % colors.len()];
        let path: Vec<String> = p
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", f.x(*x), f.y(*y)))
            .collect();
        let _ = writeln!(
            body,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        for (x, y) in p {
            let _ = writeln!(
                body,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{c}\"/>",
                f.x(*x),
                f.y(*y)
            );
        }
        let ly = f.y0 + 14.0 * k as f64;
        let _ = writeln!(
            body,
            "<text x=\"{:.0}\" y=\"{ly:.0}\" fill=\"{c}\">{}</text>",
            f.x0 + f.w + 10.0,
            esc(name)
        );
    }
    document(
        f.x0 + f.w + 140.0,
        f.y0 + f.h + 50.0,
        title,
        subtitle,
        &body,
    )
}

/// `bench latency`.
pub fn latency(r: &Report<LatencyResult>) -> String {
    let p = panel("idle latency, median".into(), &r.result.matrix, "ns", |c| {
        c.ns.median
    });
    heatmaps("numakit bench latency", &r.methodology.summary, &[p])
}

/// `bench bandwidth`.
pub fn bandwidth(r: &Report<BandwidthResult>) -> String {
    let panels: Vec<Panel> = r
        .result
        .kernels
        .iter()
        .map(|k| {
            panel(
                format!("{}, best", k.kernel.name()),
                &k.matrix,
                "GB/s",
                |c| c.gbps.max,
            )
        })
        .collect();
    heatmaps("numakit bench bandwidth", &r.methodology.summary, &panels)
}

/// `bench loaded-latency`.
pub fn loaded(r: &Report<LoadedResult>) -> String {
    let series: Vec<(String, Vec<(f64, f64)>)> = r
        .result
        .curves
        .iter()
        .map(|c| {
            (
                format!("node {} -> {}", c.initiator, c.target),
                c.points
                    .iter()
                    .map(|p| (p.injected_gbps, p.ns.median))
                    .collect(),
            )
        })
        .collect();
    curves(
        "numakit bench loaded-latency",
        &r.methodology.summary,
        "injected bandwidth, GB/s",
        "latency, ns",
        &series,
    )
}

/// `bench first-touch`.
pub fn first_touch(r: &Report<FirstTouchResult>) -> String {
    let f = &r.result;
    let items = vec![
        (
            format!("1 thread on node {}", f.main_thread.touched_by),
            Some(f.main_thread.gbps.max),
        ),
        (
            format!("the workers on node {}", f.work_node),
            Some(f.workers.gbps.max),
        ),
    ];
    bars(
        "numakit bench first-touch",
        &r.methodology.summary,
        &[("triad GB/s by who wrote the arrays first", items)],
    )
}

/// `bench policy`.
pub fn policy(r: &Report<PolicyResult>) -> String {
    let rows = &r.result.rows;
    let bw = rows
        .iter()
        .map(|x| (x.name.clone(), x.triad_gbps.as_ref().map(|s| s.max)))
        .collect();
    let lat = rows
        .iter()
        .map(|x| (x.name.clone(), x.latency_ns.as_ref().map(|s| s.median)))
        .collect();
    bars(
        "numakit bench policy",
        &r.methodology.summary,
        &[
            ("triad GB/s (higher is better)", bw),
            ("latency ns (lower is better)", lat),
        ],
    )
}

/// `bench weights`.
pub fn weights(r: &Report<WeightsResult>) -> String {
    let items = r
        .result
        .nodes
        .iter()
        .map(|n| {
            (
                format!("node {} (weight {})", n.node, n.weight),
                Some(n.gbps.max),
            )
        })
        .collect();
    bars(
        "numakit bench weights",
        &r.methodology.summary,
        &[("GB/s", items)],
    )
}

/// `bench gpu`.
pub fn gpu(r: &Report<GpuResult>) -> String {
    let mut panels = Vec::new();
    for g in &r.result.gpus {
        for m in &g.matrices {
            let dir = if m.direction == Direction::HostToDevice {
                "host to device"
            } else {
                "device to host"
            };
            let host = if m.host == HostMemory::Pinned {
                "pinned"
            } else {
                "pageable"
            };
            panels.push(panel(
                format!("GPU {} {dir}, {host}", g.ordinal),
                &m.matrix,
                "GB/s",
                |c| c.gbps.median,
            ));
        }
    }
    heatmaps("numakit bench gpu", &r.methodology.summary, &panels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_shades_stay_in_range() {
        assert_eq!(esc("a<b & \"c\"\u{1b}"), "a&lt;b &amp; &quot;c&quot; ");
        assert_eq!(shade(5.0, 5.0, 5.0).1, "black");
        assert_eq!(shade(10.0, 0.0, 10.0).0, "#1e46a0");
        let s = bars(
            "t",
            "s",
            &[("u", vec![("x".into(), Some(2.0)), ("y".into(), None)])],
        );
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert!(s.contains("not measured"));
        let c = curves(
            "t",
            "s",
            "x",
            "y",
            &[("a".into(), vec![(0.0, 1.0), (2.0, 3.0)])],
        );
        assert!(c.contains("<polyline"));
    }
}
