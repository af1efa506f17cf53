//! Stereo benches: SGM (5 and 8 paths) and NCC block matching on a synthetic textured pair.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use classic_cv::Image;
use classic_cv::stereo::StereoParams;
use classic_cv::stereo::cost::MatchCost;
use criterion::{Criterion, black_box, criterion_group, criterion_main};

fn pair(w: usize, h: usize, shift: usize) -> (Image, Image) {
    let tw = w + shift;
    let t: Vec<f32> = (0..tw * h)
        .map(|i| ((i as u64).wrapping_mul(2654435761) >> 7 & 255) as f32 / 255.0)
        .collect();
    (
        Image::from_fn(w, h, |x, y| t[y * tw + x]),
        Image::from_fn(w, h, |x, y| t[y * tw + x + shift]),
    )
}

fn stereo(c: &mut Criterion) {
    let (left, right) = pair(640, 480, 20);
    let mut g = c.benchmark_group("stereo_640x480_d128");
    g.sample_size(10);
    for paths in [5, 8] {
        let p = StereoParams {
            max_disparity: 128,
            paths,
            ..StereoParams::default()
        };
        g.bench_function(format!("sgm_census_paths{paths}"), |b| {
            b.iter(|| black_box(p.compute(&left, &right).unwrap()))
        });
    }
    let bm = StereoParams::block_matching(MatchCost::Ncc, 9, 128);
    g.bench_function("bm_ncc_9x9", |b| {
        b.iter(|| black_box(bm.compute(&left, &right).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, stereo);
criterion_main!(benches);
