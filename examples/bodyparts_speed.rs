//! Inference cost of a body-part forest: wall time and CPU time (user + system, from
//! `/proc/self/stat`) per 320x240 frame, so the figure holds on a loaded machine too.
//!
//! ```text
//! cargo run --release --example bodyparts_speed -- FOREST [FRAMES] [THREADS]
//! ```

use std::time::Instant;

use classic_cv::bodyparts::depth::feature;
use classic_cv::bodyparts::synth::{SynthParams, render_indexed};
use classic_cv::bodyparts::{BodyPartForest, LabelledFrame};
use classic_cv::persist;

/// CPU seconds (user + system) of this process so far (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let forest: BodyPartForest =
        persist::load(args.first().ok_or("usage: FOREST [FRAMES] [THREADS]")?)?;
    let n: usize = args.get(1).map_or(Ok(200), |s| s.parse())?;
    let threads: usize = args.get(2).map_or(Ok(2), |s| s.parse())?;
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()?;
    let frames: Vec<LabelledFrame> = (0..n)
        .map(|i| LabelledFrame::from_synth(&render_indexed(&SynthParams::default(), 99, i as u64)?))
        .collect::<Result<_, _>>()?;
    let body: usize = frames
        .iter()
        .map(|f| f.labels.iter().filter(|&&l| l > 0).count())
        .sum();
    let (c0, t0) = (cpu_seconds(), Instant::now());
    let mut labelled = 0usize;
    for f in &frames {
        labelled += forest.segment(&f.depth)?.iter().filter(|&&l| l > 0).count();
    }
    let (cpu, wall) = (cpu_seconds() - c0, t0.elapsed().as_secs_f64());
    assert_eq!(labelled, body);
    // Reference: the same forest walked tree by tree with `Tree::predict` and `feature`
    // (the learner's layout), on the same pool and frames, to show the layout's gain.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let (c1, t1) = (cpu_seconds(), Instant::now());
    let m = frames.len().min(20);
    for f in &frames[..m] {
        let img = &f.depth;
        let w = img.width();
        let rows: Vec<usize> = pool.install(|| {
            use rayon::prelude::*;
            (0..img.height())
                .into_par_iter()
                .map(|y| {
                    (0..w)
                        .filter(|&x| img.is_body(x, y))
                        .map(|x| {
                            let mut acc = [0f32; 15];
                            for t in &forest.trees {
                                let d = t.predict(|th| feature(img, x, y, th)).unwrap();
                                acc.iter_mut().zip(d).for_each(|(a, p)| *a += p);
                            }
                            (acc[0] >= 0.0) as usize
                        })
                        .sum()
                })
                .collect()
        });
        assert_eq!(
            rows.iter().sum::<usize>(),
            img.as_slice().iter().filter(|&&z| z < 10.0).count()
        );
    }
    let (rcpu, rwall) = (cpu_seconds() - c1, t1.elapsed().as_secs_f64());
    println!(
        "{{\"reference_tree_walk\":{{\"frames\":{m},\"wall_ms_per_frame\":{:.2},\"cpu_ms_per_frame\":{:.2}}}}}",
        1000.0 * rwall / m as f64,
        1000.0 * rcpu / m as f64
    );
    println!(
        "{{\"frames\":{n},\"threads\":{threads},\"body_pixels_per_frame\":{:.0},\"wall_ms_per_frame\":{:.2},\"cpu_ms_per_frame\":{:.2},\"cpu_ms_per_frame_per_thread\":{:.2}}}",
        body as f64 / n as f64,
        1000.0 * wall / n as f64,
        1000.0 * cpu / n as f64,
        1000.0 * cpu / n as f64 / threads as f64
    );
    Ok(())
}
