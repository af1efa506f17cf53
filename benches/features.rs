//! Layer-1 feature benches: dense SIFT on one image (1 thread and all threads) and on a
//! batch of images. Inputs are the VLFeat anchors' gray images when `../shared` is present,
//! otherwise a synthetic texture of the same size (the numbers are then indicative only).
//!
//! ```sh
//! cargo bench --bench features                      # everything
//! cargo bench --bench features -- dense_sift/1t     # one image, one thread
//! ```

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;

use classic_cv::Image;
use classic_cv::features::sift::{DenseSift, Window};
use classic_cv::pipeline::transform_all;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

#[allow(dead_code)]
#[path = "../tests/it/locate.rs"]
mod locate;

/// `name` (512x512 or 640x480 gray .f32) from the anchors, or a synthetic stand-in.
fn anchor_image(name: &str, w: usize, h: usize) -> Image {
    locate::find_anchor(&format!("vlfeat/out/{name}"))
        .and_then(|p| Image::load_raw_f32(p, w, h).ok())
        .unwrap_or_else(|| {
            Image::from_fn(w, h, |x, y| {
                let (x, y) = (x as f32, y as f32);
                0.5 + 0.25 * (0.05 * x + 0.003 * x * y).sin() * (0.07 * y).cos()
            })
        })
}

fn configs() -> Vec<(&'static str, DenseSift)> {
    let base = DenseSift {
        step: 4,
        bin_size: 8,
        ..DenseSift::default()
    };
    vec![
        ("flat", base.clone()),
        (
            "gaussian",
            DenseSift {
                window: Window::Gaussian,
                ..base.clone()
            },
        ),
        (
            "phow3-flat",
            DenseSift {
                scales: vec![4, 6, 8],
                window_size: 1.5,
                contrast_threshold: 0.005,
                ..base
            },
        ),
    ]
}

fn dense_sift(c: &mut Criterion) {
    let img = anchor_image("astronaut_gray_512x512.f32", 512, 512);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("dense_sift");
    g.sample_size(20);
    for (name, p) in configs() {
        let id = format!("{name}-step4-bin8-512x512");
        g.bench_function(BenchmarkId::new("1t", &id), |b| {
            b.iter(|| one.install(|| black_box(p.extract(black_box(&img)).unwrap())))
        });
    }
    g.finish();

    // A batch of 8 images: per-image time is the total divided by 8.
    let batch: Vec<Image> = (0..4)
        .flat_map(|_| {
            [
                anchor_image("astronaut_gray_512x512.f32", 512, 512),
                anchor_image("camera_gray_512x512.f32", 512, 512),
            ]
        })
        .collect();
    let mut g = c.benchmark_group("dense_sift_batch8");
    g.sample_size(10);
    for (name, p) in configs().into_iter().take(2) {
        let id = format!("{name}-step4-bin8-512x512");
        g.bench_function(BenchmarkId::new("1t", &id), |b| {
            b.iter(|| one.install(|| black_box(transform_all(&p, &batch).unwrap())))
        });
        g.bench_function(BenchmarkId::new("all-threads", &id), |b| {
            b.iter(|| black_box(transform_all(&p, &batch).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, dense_sift);
criterion_main!(benches);
