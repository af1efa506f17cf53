//! Learner benches: kNN brute force (L2 with pruning, L1), our k-d tree against `kiddo`,
//! linear SVM (dual CD, Pegasos) and softmax training.
//!
//! ```sh
//! cargo bench --bench learners                 # all
//! cargo bench --bench learners -- kdtree       # our k-d tree vs kiddo only
//! ```
//! Inputs are synthetic (seeded) so the benches need no fetched data: image-like vectors
//! near a 20-D subspace for the high-dimensional learners, uniform points in the unit cube
//! for the k-d trees.

use std::hint::black_box;
use std::num::NonZero;

use classic_cv::learn::knn::{Algorithm, KnnParams, Metric};
use classic_cv::learn::softmax::{SoftmaxParams, UpdateRule};
use classic_cv::learn::svm::{LinearSvmParams, Solver};
use classic_cv::pipeline::{Fit, Label, Transform};
use classic_cv::rng::Rng;
use criterion::{BenchmarkId, Criterion, criterion_main};

/// `n` vectors of `d` values in [0, 1], 8-bit quantised, near a 20-D subspace, 10 classes.
fn image_like(n: usize, d: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<Label>) {
    let mut r = Rng::new(7);
    let basis: Vec<Vec<f32>> = (0..20)
        .map(|_| (0..d).map(|_| r.normal()).collect())
        .collect();
    let mut r = Rng::new(seed);
    let x = (0..n)
        .map(|_| {
            let c: Vec<f32> = (0..20).map(|_| r.normal() * 0.05).collect();
            (0..d)
                .map(|j| {
                    let v =
                        0.4 + (0..20).map(|t| c[t] * basis[t][j]).sum::<f32>() + 0.05 * r.normal();
                    (v.clamp(0.0, 1.0) * 255.0).round() / 255.0
                })
                .collect()
        })
        .collect();
    let y = (0..n).map(|i| (i % 10) as Label).collect();
    (x, y)
}

fn in_one_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(f)
}

fn knn(c: &mut Criterion) {
    let mut g = c.benchmark_group("knn");
    g.sample_size(10);
    let (x, y) = image_like(10_000, 784, 1);
    let (q, _) = image_like(500, 784, 2);
    for metric in [Metric::L2, Metric::L1] {
        let model = KnnParams {
            k: 5,
            metric,
            algorithm: Algorithm::Brute,
            ..Default::default()
        }
        .fit(&x, &y)
        .unwrap();
        let id = BenchmarkId::new(format!("brute-{metric:?}"), "n10000-d784-q500-k5-1thread");
        g.bench_function(id, |b| {
            b.iter(|| in_one_thread(|| black_box(model.transform_batch(&q).unwrap())))
        });
    }
    g.finish();
}

fn kdtree(c: &mut Criterion) {
    let mut g = c.benchmark_group("kdtree");
    g.sample_size(10);
    let mut r = Rng::new(3);
    let n = 100_000;
    let points: Vec<[f32; 3]> = (0..n)
        .map(|_| [r.next_f32(), r.next_f32(), r.next_f32()])
        .collect();
    let queries: Vec<[f32; 3]> = (0..10_000)
        .map(|_| [r.next_f32(), r.next_f32(), r.next_f32()])
        .collect();
    let x: Vec<Vec<f32>> = points.iter().map(|p| p.to_vec()).collect();
    let y: Vec<Label> = (0..n).map(|i| (i % 2) as Label).collect();
    let qv: Vec<Vec<f32>> = queries.iter().map(|p| p.to_vec()).collect();
    let params = KnnParams {
        k: 5,
        algorithm: Algorithm::KdTree,
        ..Default::default()
    };
    let ours = params.fit(&x, &y).unwrap();
    g.bench_function(
        BenchmarkId::new("ours-query", "n100000-d3-q10000-k5-1thread"),
        |b| b.iter(|| in_one_thread(|| black_box(ours.kneighbors(&qv, 5).unwrap()))),
    );
    let tree = kiddo::ImmutableKdTree::<f32, 3>::new_from_slice(&points).unwrap();
    g.bench_function(
        BenchmarkId::new("kiddo-query", "n100000-d3-q10000-k5-1thread"),
        |b| {
            b.iter(|| {
                for q in &queries {
                    black_box(
                        tree.query(q)
                            .nearest_n::<kiddo::SquaredEuclidean<f32>>(NonZero::new(5).unwrap())
                            .execute(),
                    );
                }
            })
        },
    );
    g.bench_function(BenchmarkId::new("ours-build", "n100000-d3"), |b| {
        b.iter(|| black_box(params.fit(&x, &y).unwrap()))
    });
    g.bench_function(BenchmarkId::new("kiddo-build", "n100000-d3"), |b| {
        b.iter(|| black_box(kiddo::ImmutableKdTree::<f32, 3>::new_from_slice(&points).unwrap()))
    });
    g.finish();
}

fn svm_and_softmax(c: &mut Criterion) {
    let mut g = c.benchmark_group("linear");
    g.sample_size(10);
    let (x, y) = image_like(5_000, 784, 4);
    for solver in [Solver::DualCd, Solver::Sgd] {
        let p = LinearSvmParams {
            c: 0.01,
            solver,
            max_iter: 20,
            ..Default::default()
        };
        g.bench_function(
            BenchmarkId::new(format!("svm-{solver:?}"), "n5000-d784-10classes-max_iter20"),
            |b| b.iter(|| black_box(p.fit(&x, &y).unwrap())),
        );
    }
    let p = SoftmaxParams {
        optimizer: UpdateRule::Adam,
        learning_rate: 0.001,
        epochs: 1,
        ..Default::default()
    };
    g.bench_function(BenchmarkId::new("softmax-adam", "n5000-d784-1epoch"), |b| {
        b.iter(|| black_box(p.fit(&x, &y).unwrap()))
    });
    g.finish();
}

/// The bench groups (`criterion_group!` would define this function without docs).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    knn(&mut c);
    kdtree(&mut c);
    svm_and_softmax(&mut c);
}

criterion_main!(benches);
