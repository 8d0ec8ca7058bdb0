//! Minimal SVG charts, no dependencies: line charts (a few series over a shared x axis)
//! and scatter plots (one labelled point per configuration).

use std::fmt::Write;

/// One line of a chart.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points (x, y).
    pub points: Vec<(f64, f64)>,
}

const COLORS: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

/// The plot area of a chart drawn in a box, with the value-to-pixel mappings.
struct Frame {
    x0: f64,
    y0: f64,
    max_x: f64,
    max_y: f64,
    pw: f64,
    ph: f64,
}

const PAD_L: f64 = 60.0;
const PAD_B: f64 = 40.0;
const PAD_T: f64 = 30.0;

impl Frame {
    fn px(&self, x: f64) -> f64 {
        self.x0 + PAD_L + x / self.max_x * self.pw
    }

    fn py(&self, y: f64) -> f64 {
        self.y0 + PAD_T + self.ph - y / self.max_y * self.ph
    }
}

/// Draws the title, the plot area's border, four ticks on each axis (x with
/// `x_decimals`) and the x label of a chart in the `w`×`h` box at (`x0`, `y0`) whose
/// axes run to `max_x` and `max_y`.
fn frame(
    out: &mut String,
    (x0, y0, w, h): (f64, f64, f64, f64),
    title: &str,
    x_label: &str,
    (max_x, max_y): (f64, f64),
    x_decimals: usize,
) -> Frame {
    let f = Frame { x0, y0, max_x, max_y, pw: w - PAD_L - 20.0, ph: h - PAD_B - PAD_T };
    let _ =
        writeln!(out, r#"<text x="{}" y="{}" font-size="15" font-weight="bold">{title}</text>"#, x0 + PAD_L, y0 + 18.0);
    let _ = writeln!(
        out,
        r#"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="gray"/>"#,
        x0 + PAD_L,
        y0 + PAD_T,
        f.pw,
        f.ph
    );
    for i in 0..=4 {
        let (x, y) = (max_x * f64::from(i) / 4.0, max_y * f64::from(i) / 4.0);
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="11" text-anchor="end">{y:.1}</text>"#,
            x0 + PAD_L - 5.0,
            f.py(y) + 4.0
        );
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">{x:.x_decimals$}</text>"#,
            f.px(x),
            y0 + PAD_T + f.ph + 15.0
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">{x_label}</text>"#,
        x0 + PAD_L + f.pw / 2.0,
        y0 + h - 5.0
    );
    f
}

/// Draws one chart of `series` in a `w`×`h` box at (`x0`, `y0`) into `out`.
pub fn chart(out: &mut String, area: (f64, f64, f64, f64), title: &str, x_label: &str, series: &[Series]) {
    let max_x = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(0.0f64, f64::max).max(1e-9);
    let max_y = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0f64, f64::max).max(1e-9) * 1.1;
    let f = frame(out, area, title, x_label, (max_x, max_y), 0);
    let (px, py) = (|x| f.px(x), |y| f.py(y));
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = s.points.iter().map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect();
        let _ =
            writeln!(out, r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#, path.join(" "));
        // A few points (a lone one draws no line) are marked.
        if s.points.len() <= 24 {
            for &(x, y) in &s.points {
                let _ = writeln!(out, r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#, px(x), py(y));
            }
        }
        let ly = f.y0 + PAD_T + 15.0 + 16.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{ly}" font-size="12" fill="{color}">{}</text>"#,
            f.x0 + PAD_L + 10.0,
            s.name
        );
    }
}

/// One labelled point of a scatter plot, drawn as a circle whose area grows with `size`.
pub struct Point {
    pub name: String,
    pub x: f64,
    pub y: f64,
    pub size: f64,
}

/// Draws a scatter plot of `points` in a `w`×`h` box at (`x0`, `y0`) into `out`.
pub fn scatter(
    out: &mut String,
    area: (f64, f64, f64, f64),
    title: &str,
    (x_label, y_label): (&str, &str),
    points: &[Point],
) {
    let max_x = points.iter().map(|p| p.x).fold(0.0f64, f64::max).max(1e-9) * 1.15;
    let max_y = points.iter().map(|p| p.y).fold(0.0f64, f64::max).max(1e-9) * 1.15;
    let f = frame(out, area, title, x_label, (max_x, max_y), 1);
    let (lx, ly) = (f.x0 + 14.0, f.y0 + PAD_T + f.ph / 2.0);
    let _ = writeln!(
        out,
        r#"<text x="{lx}" y="{ly}" font-size="12" text-anchor="middle" transform="rotate(-90 {lx} {ly})">{y_label}</text>"#
    );
    let (px, py) = (|x| f.px(x), |y| f.py(y));
    for (i, p) in points.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let r = 4.0 + 6.0 * p.size.max(0.0).sqrt();
        let _ = writeln!(
            out,
            r#"<circle cx="{:.1}" cy="{:.1}" r="{r:.1}" fill="{color}" fill-opacity="0.5" stroke="{color}"/>"#,
            px(p.x),
            py(p.y)
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" fill="{color}">{}</text>"#,
            px(p.x) + r + 2.0,
            py(p.y) + 4.0,
            p.name
        );
    }
}

/// A whole SVG document of `width`×`height` with `body` inside.
pub fn document(width: f64, height: f64, body: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{body}</svg>\n"
    )
}
