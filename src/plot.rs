//! Simple charts (lines and labelled points) rendered onto a [`Canvas`]: the general
//! [`Chart`], a [`category_chart`] of values against evenly spaced categories, and a
//! [`precision_recall_chart`].
//!
//! # Overview
//! Reports show learning curves, accuracy against training time and accuracy against a
//! hyper-parameter. [`Chart`] draws one or more [`Series`] of `(x, y)` points with axes,
//! tick labels, a title and a legend, on a white RGB canvas, using the built-in bitmap font
//! of [`crate::draw`]: no plotting or font dependency.
//!
//! # Usage
//! ```
//! use classic_cv::plot::{Chart, Series};
//! let chart = Chart {
//!     title: "loss".into(),
//!     x_label: "epoch".into(),
//!     y_label: "loss".into(),
//!     series: vec![Series::line("train", vec![(1.0, 0.9), (2.0, 0.5), (3.0, 0.4)])],
//!     ..Chart::default()
//! };
//! let canvas = chart.render(480, 320);
//! assert_eq!((canvas.width(), canvas.height()), (480, 320));
//! ```
//!
//! # Conventions
//! Axis ranges cover all finite points with 5 % padding (a degenerate range is widened by 1).
//! With `log_x`, x is drawn on a base-10 log scale and non-positive x values are skipped.
//! Non-finite points are skipped.

use crate::draw::{Canvas, text_width};
use crate::image::Rect;

/// Colours given to series in order.
pub const PALETTE: [[u8; 3]; 8] = [
    [31, 119, 180],
    [214, 39, 40],
    [44, 160, 44],
    [255, 127, 14],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [23, 190, 207],
];

/// One named set of points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Join consecutive points with lines.
    pub connect: bool,
    /// Write the series name next to its last point (for scatter plots of named methods).
    pub label_points: bool,
}

impl Series {
    /// Points joined by lines.
    pub fn line(name: &str, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.to_string(),
            points,
            connect: true,
            label_points: false,
        }
    }

    /// A single labelled point.
    pub fn point(name: &str, x: f64, y: f64) -> Self {
        Series {
            name: name.to_string(),
            points: vec![(x, y)],
            connect: false,
            label_points: true,
        }
    }
}

/// A chart: axes, ticks, title, legend and series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    /// Title drawn above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Base-10 logarithmic x axis.
    pub log_x: bool,
    /// The data.
    pub series: Vec<Series>,
}

const MARGIN_LEFT: i64 = 70;
const MARGIN_RIGHT: i64 = 20;
const MARGIN_TOP: i64 = 40;
const MARGIN_BOTTOM: i64 = 50;

impl Chart {
    /// Renders the chart on a `width x height` white canvas.
    pub fn render(&self, width: usize, height: usize) -> Canvas {
        let mut c = Canvas::new(width, height, [255, 255, 255]);
        let (x0, y0) = (MARGIN_LEFT, MARGIN_TOP);
        let (x1, y1) = (width as i64 - MARGIN_RIGHT, height as i64 - MARGIN_BOTTOM);
        let black = [0, 0, 0];
        let grey = [220, 220, 220];
        let tx = |x: f64| if self.log_x { x.log10() } else { x };
        let pts = |s: &Series| -> Vec<(f64, f64)> {
            s.points
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!self.log_x || *x > 0.0))
                .map(|&(x, y)| (tx(x), y))
                .collect()
        };
        let all: Vec<(f64, f64)> = self.series.iter().flat_map(pts).collect();
        let (xr, yr) = (
            range(all.iter().map(|p| p.0)),
            range(all.iter().map(|p| p.1)),
        );
        let px = |x: f64| x0 + ((x - xr.0) / (xr.1 - xr.0) * (x1 - x0) as f64).round() as i64;
        let py = |y: f64| y1 - ((y - yr.0) / (yr.1 - yr.0) * (y1 - y0) as f64).round() as i64;

        // Grid and tick labels.
        for t in ticks(yr.0, yr.1) {
            let y = py(t);
            line(&mut c, x0, y, x1, y, grey);
            let s = fmt_tick(t);
            c.draw_text(x0 - 6 - text_width(&s, 1) as i64, y - 3, &s, black, 1);
        }
        let xticks = if self.log_x {
            log_ticks(xr.0, xr.1)
        } else {
            ticks(xr.0, xr.1)
        };
        for t in xticks {
            let x = px(t);
            line(&mut c, x, y0, x, y1, grey);
            let s = fmt_tick(if self.log_x { 10f64.powf(t) } else { t });
            c.draw_text(x - text_width(&s, 1) as i64 / 2, y1 + 6, &s, black, 1);
        }
        line(&mut c, x0, y1, x1, y1, black);
        line(&mut c, x0, y0, x0, y1, black);

        // Titles.
        c.draw_text(
            (width as i64 - text_width(&self.title, 2) as i64) / 2,
            10,
            &self.title,
            black,
            2,
        );
        let xl = if self.log_x {
            format!("{} (log scale)", self.x_label)
        } else {
            self.x_label.clone()
        };
        c.draw_text(
            (x0 + x1 - text_width(&xl, 1) as i64) / 2,
            height as i64 - 20,
            &xl,
            black,
            1,
        );
        c.draw_text(4, y0 - 14, &self.y_label, black, 1);

        // Data.
        for (i, s) in self.series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let p = pts(s);
            if s.connect {
                for w in p.windows(2) {
                    line(
                        &mut c,
                        px(w[0].0),
                        py(w[0].1),
                        px(w[1].0),
                        py(w[1].1),
                        colour,
                    );
                }
            }
            for &(x, y) in &p {
                marker(&mut c, px(x), py(y), colour);
            }
            if let (true, Some(&(x, y))) = (s.label_points, p.last()) {
                let w = text_width(&s.name, 1) as i64;
                let lx = if px(x) + 6 + w > x1 {
                    px(x) - 6 - w
                } else {
                    px(x) + 6
                };
                c.draw_text(lx, py(y) - 10, &s.name, colour, 1);
            }
        }

        // Legend for connected series.
        let mut ly = y0 + 4;
        for (i, s) in self.series.iter().enumerate().filter(|(_, s)| s.connect) {
            let colour = PALETTE[i % PALETTE.len()];
            let w = text_width(&s.name, 1) as i64;
            let lx = x1 - w - 24;
            line(&mut c, lx, ly + 3, lx + 14, ly + 3, colour);
            c.draw_text(lx + 18, ly, &s.name, colour, 1);
            ly += 12;
        }
        c
    }
}

/// `p` moved to at most one pixel outside the canvas, so that a line between far-away or
/// saturated (`f64::INFINITY as i64`) points takes at most a canvas' worth of steps. Points
/// on the canvas or next to it are unchanged.
fn near_canvas(c: &Canvas, (x, y): (i64, i64)) -> (i64, i64) {
    (
        x.clamp(-1, c.width() as i64),
        y.clamp(-1, c.height() as i64),
    )
}

/// Draws a straight line (Bresenham), clipped to the canvas (endpoints further than one
/// pixel outside it are first moved to that border, so the work is bounded by the canvas).
pub fn line(c: &mut Canvas, x0: i64, y0: i64, x1: i64, y1: i64, colour: [u8; 3]) {
    let ((x0, y0), (x1, y1)) = (near_canvas(c, (x0, y0)), near_canvas(c, (x1, y1)));
    let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
    let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
    let (mut x, mut y, mut err) = (x0, y0, dx + dy);
    loop {
        c.put(x, y, colour);
        if x == x1 && y == y1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

/// A 5x5 square centred on `(x, y)` (its corner clamped at the canvas edge).
fn marker(c: &mut Canvas, x: i64, y: i64, colour: [u8; 3]) {
    let r = Rect {
        x: (x - 2).max(0) as u32,
        y: (y - 2).max(0) as u32,
        width: 5,
        height: 5,
    };
    c.fill_rect(r, colour);
}

/// Draws a straight line two pixels thick (each point and the one below it), stepping one
/// pixel along the longer axis and placing the other coordinate by integer linear
/// interpolation (rounded toward zero). The stroke of [`category_chart`] and
/// [`precision_recall_chart`].
pub fn stroke(c: &mut Canvas, from: (i64, i64), to: (i64, i64), colour: [u8; 3]) {
    let ((x0, y0), (x1, y1)) = (near_canvas(c, from), near_canvas(c, to));
    let n = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
    for i in 0..=n {
        let x = x0 + (x1 - x0) * i / n;
        let y = y0 + (y1 - y0) * i / n;
        c.put(x, y, colour);
        c.put(x, y + 1, colour);
    }
}

/// One point of a [`category_chart`].
#[derive(Clone, Debug, PartialEq)]
pub struct CategoryPoint {
    /// The series (line) it belongs to.
    pub series: String,
    /// Its category on the x axis (values below 1 count as 1).
    pub x: usize,
    /// Its value.
    pub y: f64,
}

/// Colours of the [`category_chart`] series, in order of first appearance.
const CATEGORY_COLOURS: [[u8; 3]; 8] = [
    [220, 40, 40],
    [40, 90, 220],
    [30, 160, 60],
    [200, 120, 0],
    [140, 50, 170],
    [0, 150, 160],
    [120, 120, 120],
    [230, 0, 140],
];

/// Text of a [`category_chart`]: the title above the plot and the two axis labels.
#[derive(Clone, Copy, Debug)]
pub struct ChartText<'a> {
    /// Drawn centred above the plot (scale 2).
    pub title: &'a str,
    /// Drawn centred under the x axis.
    pub x_label: &'a str,
    /// Drawn above the y axis, left-aligned with the tick labels.
    pub y_label: &'a str,
}

/// A 640x420 line chart of values against categories: the distinct `x` values, sorted, are
/// evenly spaced along the x axis (a log-spaced parameter such as a codebook size gets even
/// steps); the y axis spans the values rounded out to hundredths, with 6 labelled ticks.
/// One line per series (points sorted by position), legend on the right in upper case; the
/// title above, the y label above the y axis and the x label below the x axis.
pub fn category_chart(text: ChartText<'_>, points: &[CategoryPoint]) -> Canvas {
    const W: usize = 640;
    const H: usize = 420;
    const L: usize = 60;
    const B: usize = 40;
    const T: usize = 56;
    const R: usize = 180;
    let mut c = Canvas::new(W, H, [255, 255, 255]);
    let mut xs: Vec<usize> = points.iter().map(|r| r.x.max(1)).collect();
    xs.sort_unstable();
    xs.dedup();
    let lo = points.iter().map(|r| r.y).fold(f64::INFINITY, f64::min);
    let hi = points.iter().map(|r| r.y).fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = (
        (lo * 100.0).floor() / 100.0,
        (hi * 100.0).ceil() / 100.0 + 1e-9,
    );
    let (pw, ph) = ((W - L - R) as f64, (H - T - B) as f64);
    let px = |x: usize| -> i64 {
        let i = xs.iter().position(|&v| v == x.max(1)).unwrap_or(0);
        let f = if xs.len() > 1 {
            i as f64 / (xs.len() - 1) as f64
        } else {
            0.5
        };
        (L as f64 + f * pw) as i64
    };
    let py = |a: f64| -> i64 { (T as f64 + (hi - a) / (hi - lo).max(1e-9) * ph) as i64 };
    let axis = [0, 0, 0];
    let bar = |x: usize, y: usize, width: usize, height: usize| Rect {
        x: x as u32,
        y: y as u32,
        width: width as u32,
        height: height as u32,
    };
    c.fill_rect(bar(L, T, 1, ph as usize), axis);
    c.fill_rect(bar(L, H - B, pw as usize, 1), axis);
    for &x in &xs {
        let s = x.to_string();
        let at = px(x) - text_width(&s, 1) as i64 / 2;
        c.draw_text(at, (H - B + 6) as i64, &s, axis, 1);
    }
    let centred = |width: usize| (L + pw as usize / 2) as i64 - width as i64 / 2;
    c.draw_text(
        centred(text_width(text.x_label, 1)),
        (H - 14) as i64,
        text.x_label,
        axis,
        1,
    );
    c.draw_text(centred(text_width(text.title, 2)), 8, text.title, axis, 2);
    c.draw_text(4, (T - 16) as i64, text.y_label, axis, 1);
    let steps = 5;
    for s in 0..=steps {
        let a = lo + (hi - lo) * s as f64 / steps as f64;
        c.draw_text(4, py(a) - 3, &format!("{a:.3}"), axis, 1);
        c.fill_rect(bar(L - 4, py(a) as usize, 4, 1), axis);
    }
    let mut series: Vec<&str> = Vec::new();
    for r in points {
        if !series.contains(&r.series.as_str()) {
            series.push(&r.series);
        }
    }
    for (si, name) in series.iter().enumerate() {
        let colour = CATEGORY_COLOURS[si % CATEGORY_COLOURS.len()];
        let mut pts: Vec<(i64, i64)> = points
            .iter()
            .filter(|r| r.series == *name)
            .map(|r| (px(r.x), py(r.y)))
            .collect();
        pts.sort_unstable();
        for w in pts.windows(2) {
            stroke(&mut c, w[0], w[1], colour);
        }
        for &(x, y) in &pts {
            marker(&mut c, x, y, colour);
        }
        let ly = T + 10 + 14 * si;
        c.fill_rect(bar(W - R + 10, ly, 10, 7), colour);
        c.draw_text(
            (W - R + 26) as i64,
            ly as i64,
            &name.to_uppercase(),
            colour,
            1,
        );
    }
    c
}

/// Size of [`precision_recall_chart`]'s canvas.
pub const PR_CHART_SIZE: (usize, usize) = (480, 440);

/// A precision-recall plot of [`PR_CHART_SIZE`]: the unit square with a grid and tick
/// labels every 0.2 on both axes, "recall" below, "precision" above the y axis, the title
/// `precision-recall, AP <average_precision>` (3 decimals), and the `(recall, precision)`
/// points joined in order in red, from the first point (no point is added: an empty curve
/// draws the axes and "no detections" in the title).
pub fn precision_recall_chart(curve: &[(f64, f64)], average_precision: f64) -> Canvas {
    let (width, height) = PR_CHART_SIZE;
    let mut c = Canvas::new(width, height, [255, 255, 255]);
    let (x0, y0) = (MARGIN_LEFT, MARGIN_TOP);
    let (x1, y1) = (width as i64 - MARGIN_RIGHT, height as i64 - MARGIN_BOTTOM);
    let (black, grey, red) = ([0, 0, 0], [220, 220, 220], [200, 0, 0]);
    let at = |r: f64, p: f64| {
        (
            x0 + (r.clamp(0.0, 1.0) * (x1 - x0) as f64).round() as i64,
            y1 - (p.clamp(0.0, 1.0) * (y1 - y0) as f64).round() as i64,
        )
    };
    for k in 0..=5 {
        let t = k as f64 / 5.0;
        let label = format!("{t:.1}");
        let (x, y) = at(t, t);
        line(&mut c, x0, y, x1, y, grey);
        line(&mut c, x, y0, x, y1, grey);
        c.draw_text(
            x0 - 6 - text_width(&label, 1) as i64,
            y - 3,
            &label,
            black,
            1,
        );
        c.draw_text(
            x - text_width(&label, 1) as i64 / 2,
            y1 + 6,
            &label,
            black,
            1,
        );
    }
    line(&mut c, x0, y1, x1, y1, black);
    line(&mut c, x0, y0, x0, y1, black);
    line(&mut c, x1, y0, x1, y1, black);
    line(&mut c, x0, y0, x1, y0, black);
    let title = if curve.is_empty() {
        "precision-recall: no detections".to_string()
    } else {
        format!("precision-recall, AP {average_precision:.3}")
    };
    c.draw_text(
        (width as i64 - text_width(&title, 2) as i64) / 2,
        10,
        &title,
        black,
        2,
    );
    c.draw_text(
        (x0 + x1 - text_width("recall", 1) as i64) / 2,
        height as i64 - 20,
        "recall",
        black,
        1,
    );
    c.draw_text(4, y0 - 14, "precision", black, 1);
    let points: Vec<(i64, i64)> = curve
        .iter()
        .filter(|(r, p)| r.is_finite() && p.is_finite())
        .map(|&(r, p)| at(r, p))
        .collect();
    for w in points.windows(2) {
        stroke(&mut c, w[0], w[1], red);
    }
    for &(x, y) in &points {
        marker(&mut c, x, y, red);
    }
    c
}

/// Min and max of the values with 5 % padding; `(0, 1)` when there are none.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// About five "nice" tick values (1, 2 or 5 times a power of ten apart) inside `[lo, hi]`.
pub fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    // The nice step whose tick count is closest to five.
    let step = [0.5, 1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .min_by(|a, b| {
            let da = ((hi - lo) / a - 5.0).abs();
            let db = ((hi - lo) / b - 5.0).abs();
            da.total_cmp(&db)
        })
        .unwrap_or(mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + 1e-9 * step && out.len() < 20 {
        out.push(if t.abs() < 1e-12 * step { 0.0 } else { t });
        t += step;
    }
    out
}

/// Tick positions (in log10 units) at 1, 2 and 5 times powers of ten inside `[lo, hi]`.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut out = Vec::new();
    for e in lo.floor() as i64..=hi.ceil() as i64 {
        for m in [1.0f64, 2.0, 5.0] {
            let t = (m * 10f64.powi(e as i32)).log10();
            if t >= lo && t <= hi {
                out.push(t);
            }
        }
    }
    out
}

fn fmt_tick(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 || (a > 0.0 && a < 0.01) {
        format!("{v:.0e}")
    } else if a >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if (v * 10.0).fract().abs() < 1e-9 {
        format!("{v:.1}")
    } else if (v * 100.0).fract().abs() < 1e-9 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks() {
        let close = |a: Vec<f64>, b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
        };
        assert!(close(ticks(0.0, 1.0), &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]));
        assert!(close(
            ticks(0.83, 0.94),
            &[0.84, 0.86, 0.88, 0.9, 0.92, 0.94]
        ));
        assert!(close(ticks(3.0, 97.0), &[20.0, 40.0, 60.0, 80.0]));
        assert_eq!(
            log_ticks(0.0, 1.0),
            vec![0.0, 2f64.log10(), 5f64.log10(), 1.0]
        );
    }

    #[test]
    fn category_chart_draws_its_title_and_axis_labels_in_their_bands() {
        let points = [
            CategoryPoint {
                series: "a".into(),
                x: 16,
                y: 0.5,
            },
            CategoryPoint {
                series: "a".into(),
                x: 32,
                y: 0.7,
            },
        ];
        let dark_rows = |c: &Canvas, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>| {
            rows.filter(|&y| cols.clone().any(|x| c.pixel(x, y) == [0, 0, 0]))
                .count()
        };
        let named = ChartText {
            title: "TITLE",
            x_label: "K",
            y_label: "ACCURACY",
        };
        let blank = ChartText {
            title: "",
            x_label: "",
            y_label: "",
        };
        let (a, b) = (
            category_chart(named, &points),
            category_chart(blank, &points),
        );
        // The title (scale 2: 14 rows) in the top band, the y label just above the plot.
        assert_eq!(dark_rows(&a, 0..30, 200..460), 14);
        assert_eq!(dark_rows(&b, 0..30, 0..640), 0);
        assert_eq!(dark_rows(&a, 40..50, 0..60), 7);
        assert_eq!(dark_rows(&b, 40..50, 0..60), 0);
    }

    #[test]
    fn points_land_where_the_axes_say() {
        let chart = Chart {
            series: vec![Series::line("s", vec![(0.0, 0.0), (10.0, 10.0)])],
            ..Chart::default()
        };
        let c = chart.render(300, 200);
        // With 5 % padding, (0, 0) maps 5 % inside the bottom-left corner of the plot area.
        let (w, h) = (
            300 - MARGIN_LEFT - MARGIN_RIGHT,
            200 - MARGIN_TOP - MARGIN_BOTTOM,
        );
        let x = MARGIN_LEFT + (w as f64 * 0.5 / 11.0).round() as i64;
        let y = 200 - MARGIN_BOTTOM - (h as f64 * 0.5 / 11.0).round() as i64;
        assert_eq!(c.pixel(x as usize, y as usize), PALETTE[0]);
        // Lines drawn between the points: the midpoint is coloured too.
        let xm = MARGIN_LEFT + w / 2;
        let ym = MARGIN_TOP + h / 2;
        let near = (-1..=1).any(|d| c.pixel(xm as usize, (ym + d) as usize) == PALETTE[0]);
        assert!(near);
    }

    #[test]
    fn precision_recall_chart_has_unit_axes_and_the_curve() {
        let c = precision_recall_chart(&[(0.25, 1.0), (0.5, 0.5), (1.0, 0.5)], 0.625);
        assert_eq!((c.width(), c.height()), PR_CHART_SIZE);
        let (w, h) = (PR_CHART_SIZE.0 as i64, PR_CHART_SIZE.1 as i64);
        let (x0, y1) = (MARGIN_LEFT, h - MARGIN_BOTTOM);
        let (sx, sy) = (w - MARGIN_RIGHT - x0, y1 - MARGIN_TOP);
        let px = |r: f64, p: f64| {
            (
                (x0 + (r * sx as f64).round() as i64) as usize,
                (y1 - (p * sy as f64).round() as i64) as usize,
            )
        };
        // The points in red where the unit axes put them; none at (0, 0).
        for (r, p) in [(0.25, 1.0), (0.5, 0.5), (1.0, 0.5), (0.75, 0.5)] {
            let (x, y) = px(r, p);
            assert_eq!(c.pixel(x, y), [200, 0, 0], "({r}, {p})");
        }
        let (x, y) = px(0.0, 0.0);
        assert_eq!(c.pixel(x, y), [0, 0, 0]);
        // A grid line at 0.4 precision, away from the curve.
        let (x, y) = px(0.1, 0.4);
        assert_eq!(c.pixel(x, y), [220, 220, 220]);
        // The title: dark pixels in the top band, and the empty curve gives another title.
        let dark = |c: &Canvas| {
            (0..c.width())
                .flat_map(|x| (8..28).map(move |y| (x, y)))
                .filter(|&(x, y)| c.pixel(x, y) == [0, 0, 0])
                .count()
        };
        assert!(dark(&c) > 100);
        assert_ne!(dark(&c), dark(&precision_recall_chart(&[], 0.0)));
    }

    #[test]
    fn empty_and_non_finite_data_do_not_panic() {
        let chart = Chart {
            log_x: true,
            series: vec![Series::line("s", vec![(f64::NAN, 1.0), (-1.0, 2.0)])],
            ..Chart::default()
        };
        assert_eq!(chart.render(200, 150).width(), 200);
        assert_eq!(Chart::default().render(120, 100).height(), 100);
    }

    /// Lines to saturated or far-away points end at once (bounded by the canvas), and lines
    /// on the canvas are unchanged by the clamping.
    #[test]
    fn lines_to_absurd_points_are_bounded() {
        let mut a = Canvas::new(50, 40, [255, 255, 255]);
        let far = [i64::MIN, -1_000_000_000_000, 1_000_000_000_000, i64::MAX];
        for &x in &far {
            for &y in &far {
                line(&mut a, 10, 10, x, y, [0, 0, 0]);
                stroke(&mut a, (10, 10), (x, y), [0, 0, 0]);
            }
        }
        let (mut b, mut d) = (
            Canvas::new(50, 40, [255, 255, 255]),
            Canvas::new(50, 40, [255, 255, 255]),
        );
        line(&mut b, -1, 3, 50, 39, [0, 0, 0]);
        stroke(&mut b, (2, -1), (49, 40), [0, 0, 0]);
        // The same lines drawn by hand: Bresenham and the interpolated stroke, unclamped.
        let (x0, y0, x1, y1) = (-1i64, 3i64, 50i64, 39i64);
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            d.put(x, y, [0, 0, 0]);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += 1;
            }
            if e2 <= dx {
                err += dx;
                y += 1;
            }
        }
        let n = 47i64; // the longer axis: 47 columns against 41 rows
        for i in 0..=n {
            let (x, y) = (2 + 47 * i / n, -1 + 41 * i / n);
            d.put(x, y, [0, 0, 0]);
            d.put(x, y + 1, [0, 0, 0]);
        }
        assert!(b == d, "clamping changed a line on the canvas");
    }
}
