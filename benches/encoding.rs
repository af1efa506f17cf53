//! Criterion benches of the encoding layer: quantisation, k-means iterations, BoVW, VLAD and
//! the kernel map.
//!
//! Inputs are the VLFeat anchor descriptors when present (`../shared/anchors/vlfeat/out`,
//! or `$CLASSIC_CV_SHARED/anchors/vlfeat/out`), else seeded random data of the same shape.
//! Run: `cargo bench --bench encoding` (add `-- quantize` etc. to filter).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::path::PathBuf;

use classic_cv::encode::bovw::{Bovw, BovwParams};
use classic_cv::encode::encoder::LocalFeatures;
use classic_cv::encode::kmeans::{KMeansInit, KMeansParams, quantize};
use classic_cv::encode::vlad::{Vlad, VladNormalization};
use classic_cv::pipeline::Transform;
use classic_cv::rng::Rng;
use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};
use ndarray::{Array2, Axis, Slice};

#[allow(dead_code)]
#[path = "../tests/it/locate.rs"]
mod locate;

fn anchor(name: &str) -> Option<PathBuf> {
    locate::find_anchor(&format!("vlfeat/out/{name}"))
}

/// `rows x 128` descriptors: the anchor file if present, else random.
fn descriptors(name: &str, rows: usize, seed: u64) -> Array2<f32> {
    if let Some(p) = anchor(name) {
        let bytes = std::fs::read(p).unwrap();
        let v: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let a = Array2::from_shape_vec((v.len() / 128, 128), v).unwrap();
        return a
            .slice_axis(Axis(0), Slice::from(0..rows.min(a.nrows())))
            .to_owned();
    }
    let mut rng = Rng::new(seed);
    Array2::from_shape_fn((rows, 128), |_| rng.next_f32() * 0.3)
}

fn centres(x: &Array2<f32>, k: usize) -> Array2<f32> {
    let idx = Rng::new(7).sample_indices(x.nrows(), k);
    x.select(Axis(0), &idx)
}

fn bench_quantize(c: &mut Criterion) {
    let mut g = c.benchmark_group("quantize");
    g.sample_size(10);
    for &n in &[1_000usize, 10_000, 100_000] {
        let x = descriptors("descriptors_100k.f32", n, 1);
        for &k in &[256usize, 1024] {
            let cb = centres(&x, k.min(n));
            g.bench_function(BenchmarkId::new("gemm", format!("n{n}-k{k}")), |b| {
                b.iter(|| black_box(quantize(x.view(), cb.view()).unwrap()))
            });
        }
    }
    g.finish();
}

fn bench_kmeans(c: &mut Criterion) {
    let mut g = c.benchmark_group("kmeans");
    g.sample_size(10);
    let x = descriptors("descriptors_100k.f32", 100_000, 2);
    for &k in &[256usize, 1024] {
        let p = KMeansParams {
            k,
            init: KMeansInit::Given(centres(&x, k)),
            max_iter: 2,
            ..Default::default()
        };
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            g.bench_function(
                BenchmarkId::new(format!("lloyd-2it-{threads}t"), format!("n100000-k{k}")),
                |b| pool.install(|| b.iter(|| black_box(p.fit_array(x.view()).unwrap()))),
            );
        }
    }
    g.finish();
}

fn bench_encoders(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    g.sample_size(10);
    let x = descriptors("astronaut_dsift_s4_b8_flat.f32", 14_884, 3);
    let n = x.nrows();
    let side = (n as f32).sqrt().ceil() as usize;
    let image = LocalFeatures {
        positions: (0..n)
            .map(|i| [(i % side) as f32 * 4.0, (i / side) as f32 * 4.0])
            .collect(),
        descriptors: x.clone(),
        width: (side * 4) as u32,
        height: (side * 4) as u32,
    };
    let codebook = KMeansParams {
        k: 256,
        init: KMeansInit::Given(centres(&x, 256)),
        max_iter: 0,
        ..Default::default()
    }
    .fit_array(x.view())
    .unwrap();
    let vlad = Vlad::from_codebook(codebook.clone(), VladNormalization::default());
    g.bench_function(BenchmarkId::new("vlad", format!("n{n}-k256")), |b| {
        b.iter(|| black_box(vlad.transform(&image).unwrap()))
    });
    let bovw = Bovw::from_codebook(
        codebook,
        BovwParams {
            pyramid: vec![1, 2, 4],
            ..Default::default()
        },
    )
    .unwrap();
    g.bench_function(BenchmarkId::new("bovw-spm124", format!("n{n}-k256")), |b| {
        b.iter(|| black_box(bovw.transform(&image).unwrap()))
    });
    let gmm = classic_cv::encode::gmm::GmmParams {
        k: 64,
        max_iter: 5,
        subsample: Some(5000),
        ..Default::default()
    }
    .fit_array(x.view())
    .unwrap();
    g.bench_function(
        BenchmarkId::new("fisher-improved", format!("n{n}-k64")),
        |b| {
            b.iter(|| {
                black_box(classic_cv::encode::fisher::fisher_encode(x.view(), &gmm, true).unwrap())
            })
        },
    );
    let hists: Vec<Vec<f32>> = (0..100)
        .map(|j| (0..4096).map(|i| ((i + j) % 17) as f32 / 4096.0).collect())
        .collect();
    let map = classic_cv::encode::homkermap::HomKerMap::default();
    g.bench_function(BenchmarkId::new("homkermap-chi2-n1", "100x4096"), |b| {
        b.iter(|| black_box(map.transform_batch(&hists).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench_quantize, bench_kmeans, bench_encoders);
criterion_main!(benches);
