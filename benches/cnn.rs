//! CNN benches: training epochs on a slice of synthetic 28x28 images and batched inference,
//! default network, in a 1-thread pool and in the default pool.
//!
//! `cargo bench --bench cnn`. The epoch-time comparison with the hand-written anchor is
//! `scripts/cnn_sidebyside.sh` (it runs both on the real data in one go).

#![allow(missing_docs)] // criterion_group! generates undocumented functions.

use classic_cv::Image;
use classic_cv::cnn::CnnParams;
use classic_cv::cnn::optim::{Optimizer, Schedule};
use classic_cv::cnn::train::Augment;
use classic_cv::pipeline::{Fit, Transform};
use classic_cv::rng::Rng;
use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};

fn images(n: usize) -> (Vec<Image>, Vec<u32>) {
    let mut rng = Rng::new(1);
    let x = (0..n)
        .map(|_| Image::from_fn(28, 28, |_, _| rng.next_f32()))
        .collect();
    let y = (0..n).map(|i| (i % 10) as u32).collect();
    (x, y)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cnn");
    g.sample_size(10);
    let (x, y) = images(640);
    // The anchor's recipe: Adam 1e-3, constant, batch 64, no augmentation.
    let params = CnnParams {
        epochs: 1,
        optimizer: Optimizer::adam(),
        learning_rate: 1e-3,
        schedule: Schedule::Constant,
        label_smoothing: 0.0,
        weight_decay: 0.0,
        augment: Augment {
            flip: false,
            max_shift: 0,
        },
        ..CnnParams::default()
    };
    let model = params.fit(&x, &y).unwrap();
    for threads in [1, 0] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let t = pool.current_num_threads();
        let id = BenchmarkId::new("train_epoch", format!("default-net-640img-b64-t{t}"));
        g.bench_function(id, |b| {
            b.iter(|| pool.install(|| black_box(params.fit(&x, &y).unwrap())))
        });
        let id = BenchmarkId::new("infer", format!("default-net-640img-t{t}"));
        g.bench_function(id, |b| {
            b.iter(|| pool.install(|| black_box(model.transform_batch(&x).unwrap())))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
