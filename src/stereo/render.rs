//! A disparity map as a picture: each valid disparity coloured by the "jet" colour map
//! (blue = far, red = near) over `0..=max`, invalid pixels black, and a legend bar with
//! labelled ticks (in pixels of disparity) on the right.

use super::disparity::DisparityMap;
use crate::draw::{Canvas, text_width};
use crate::image::Rect;

/// The jet colour of `t` in `[0, 1]` (clamped): blue, cyan, yellow, red.
pub fn jet(t: f32) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let ch = |c: f32| ((1.5 - (4.0 * t - c).abs()).clamp(0.0, 1.0) * 255.0).round() as u8;
    [ch(3.0), ch(2.0), ch(1.0)]
}

/// Legend width in pixels.
const LEGEND: usize = 90;

/// The colour-mapped disparity with its legend; `max` is the disparity drawn in red
/// (`None`: the largest valid disparity).
pub fn disparity_picture(map: &DisparityMap, max: Option<f32>) -> Canvas {
    let max = max
        .filter(|m| *m > 0.0 && m.is_finite())
        .unwrap_or_else(|| map.max_valid().max(1.0));
    let (w, h) = (map.width, map.height);
    let height = h.max(120);
    let mut c = Canvas::new(w + LEGEND, height, [255; 3]);
    for y in 0..h {
        for x in 0..w {
            let d = map.get(x, y);
            let colour = if d.is_nan() { [0; 3] } else { jet(d / max) };
            c.put(x as i64, y as i64, colour);
        }
    }
    // The bar: top = max, bottom = 0.
    let (bx, top, bottom) = (w as i64 + 10, 14i64, height as i64 - 14);
    let span = (bottom - top).max(1);
    for yy in top..=bottom {
        let t = (bottom - yy) as f32 / span as f32;
        c.fill_rect(
            Rect {
                x: bx as u32,
                y: yy as u32,
                width: 20,
                height: 1,
            },
            jet(t),
        );
    }
    for tick in crate::plot::ticks(0.0, f64::from(max)) {
        let yy = bottom - ((tick / f64::from(max)) * span as f64).round() as i64;
        c.fill_rect(
            Rect {
                x: bx as u32 + 20,
                y: yy as u32,
                width: 5,
                height: 1,
            },
            [0; 3],
        );
        let label = format!("{tick}");
        let tw = text_width(&label, 1) as i64;
        let x = (bx + 28).min((w + LEGEND) as i64 - tw);
        c.draw_text(x, yy - 3, &label, [0; 3], 1);
    }
    c.draw_text(bx, 2, "px", [0; 3], 1);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_invalid_pixels() {
        assert_eq!(jet(0.0), [0, 0, 128]);
        assert_eq!(jet(1.0), [128, 0, 0]);
        assert_eq!(jet(0.5), [128, 255, 128]);
        let m = DisparityMap::new(2, 1, vec![f32::NAN, 4.0]).unwrap();
        let c = disparity_picture(&m, Some(4.0));
        assert_eq!(c.pixel(0, 0), [0; 3]);
        assert_eq!(c.pixel(1, 0), [128, 0, 0]);
        assert_eq!(c.width(), 2 + LEGEND);
    }
}
