//! Foundation benches: image resizing and model persistence.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use classic_cv::learn::centroid::NearestCentroidParams;
use classic_cv::pipeline::Fit;
use classic_cv::{Image, persist};
use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};

fn resize(c: &mut Criterion) {
    let img = Image::from_fn(640, 480, |x, y| ((x ^ y) & 255) as f32 / 255.0);
    for (w, h) in [(320, 240), (1280, 960)] {
        c.bench_with_input(
            BenchmarkId::new("resize_bilinear", format!("640x480-to-{w}x{h}")),
            &(w, h),
            |b, &(w, h)| b.iter(|| black_box(img.resize_bilinear(w, h).unwrap())),
        );
    }
}

fn persistence(c: &mut Criterion) {
    // 10 classes x 100,000 features: a 4 MB model.
    let x: Vec<Vec<f32>> = (0..20)
        .map(|i| (0..100_000).map(|j| ((i * 7 + j) % 13) as f32).collect())
        .collect();
    let y: Vec<u32> = (0..20).map(|i| i % 10).collect();
    let model = NearestCentroidParams::default().fit(&x, &y).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for ext in ["bin", "json"] {
        let path = dir.path().join(format!("m.{ext}"));
        c.bench_function(&format!("persist_save/{ext}-4MB"), |b| {
            b.iter(|| persist::save(&path, black_box(&model)).unwrap())
        });
        c.bench_function(&format!("persist_load/{ext}-4MB"), |b| {
            b.iter(|| {
                black_box(
                    persist::load::<classic_cv::learn::centroid::NearestCentroid>(&path).unwrap(),
                )
            })
        });
    }
}

criterion_group!(benches, resize, persistence);
criterion_main!(benches);
