//! Body-part inference speed: one 320x240 frame, 3 trees of depth 20 (the paper's forest).
//!
//! `cargo bench --bench bodyparts` (add `-- --quick` for a short run). The forest is
//! trained in the setup on 150 synthetic frames (about a minute); set
//! `BODYPARTS_FOREST=path` to bench a forest trained with `classic-cv bodyparts train`.
//! Threads: `RAYON_NUM_THREADS=2` for the "2 threads" figure.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{Criterion, criterion_group, criterion_main};

use classic_cv::bodyparts::synth::{SynthParams, render_indexed};
use classic_cv::bodyparts::{self, BodyPartForest, BodyPartsParams, LabelledFrame};
use classic_cv::persist;

fn forest() -> BodyPartForest {
    if let Ok(path) = std::env::var("BODYPARTS_FOREST") {
        return persist::load(path).expect("BODYPARTS_FOREST names a body-part forest");
    }
    let frames: Vec<LabelledFrame> = (0..150)
        .map(|i| {
            LabelledFrame::from_synth(&render_indexed(&SynthParams::default(), 1, i).unwrap())
                .unwrap()
        })
        .collect();
    bodyparts::train(
        &BodyPartsParams {
            pixels_per_image: 1000,
            candidates: 30,
            min_samples_split: 2,
            ..BodyPartsParams::default()
        },
        &frames,
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let forest = forest();
    let depths: Vec<_> = forest.trees.iter().map(|t| t.depth()).collect();
    eprintln!("forest: {} trees, depths {depths:?}", forest.trees.len());
    let frames: Vec<LabelledFrame> = (0..8)
        .map(|i| {
            LabelledFrame::from_synth(&render_indexed(&SynthParams::default(), 99, i).unwrap())
                .unwrap()
        })
        .collect();
    let mut k = 0;
    c.bench_function("segment 320x240 frame, 3 trees depth 20", |b| {
        b.iter(|| {
            k = (k + 1) % frames.len();
            forest.segment(&frames[k].depth).unwrap()
        })
    });
    c.bench_function("part probabilities 320x240 frame, 3 trees depth 20", |b| {
        b.iter(|| {
            k = (k + 1) % frames.len();
            forest.probabilities(&frames[k].depth).unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
