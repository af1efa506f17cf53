//! Random forest on Fashion-MNIST raw pixels: fit time, predict time and test accuracy, as
//! one JSON line (used by `scripts/forest_sidebyside.sh`).
//!
//! ```text
//! cargo run --release --example forest_fashion_mnist -- [N_TRAIN] [N_TREES] [THREADS]
//! ```
//! Defaults: all 60,000 training images, 100 trees, all cores. Pixels are `u8 / 255`, the
//! scikit-learn anchor's `raw[0,1]`.

use std::time::Instant;

use classic_cv::datasets::{Split, fashion_mnist};
use classic_cv::learn::forest::RandomForestParams;
use classic_cv::pipeline::{Fit, transform_all};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let n_train = args.first().copied().unwrap_or(60_000);
    let n_trees = args.get(1).copied().unwrap_or(100);
    let threads = args.get(2).copied().unwrap_or(0);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()?;
    let dir = classic_cv::datasets::fetch::default_cache_dir().join("fashion-mnist");
    let dir = if dir.is_absolute() {
        dir
    } else {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir)
    };
    let train = fashion_mnist(&dir, Split::Train)?.truncate(n_train);
    let test = fashion_mnist(&dir, Split::Test)?;
    let xtr: Vec<Vec<f32>> = train.images.iter().map(|i| i.as_slice().to_vec()).collect();
    let xte: Vec<Vec<f32>> = test.images.iter().map(|i| i.as_slice().to_vec()).collect();
    let params = RandomForestParams {
        n_trees,
        ..RandomForestParams::default()
    };
    let t0 = Instant::now();
    let forest = params.fit(&xtr, &train.labels)?;
    let fit_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let pred = transform_all(&forest, &xte)?;
    let predict_s = t1.elapsed().as_secs_f64();
    let correct = pred
        .iter()
        .zip(&test.labels)
        .filter(|(p, l)| p == l)
        .count();
    let depth: f64 =
        forest.trees.iter().map(|t| t.depth() as f64).sum::<f64>() / forest.trees.len() as f64;
    let nodes: f64 =
        forest.trees.iter().map(|t| t.n_nodes() as f64).sum::<f64>() / forest.trees.len() as f64;
    println!(
        "{{\"n_train\":{},\"n_trees\":{},\"fit_s\":{:.3},\"predict_s\":{:.3},\"accuracy\":{:.4},\"mean_depth\":{:.1},\"mean_nodes\":{:.0}}}",
        xtr.len(),
        n_trees,
        fit_s,
        predict_s,
        correct as f64 / test.len() as f64,
        depth,
        nodes
    );
    Ok(())
}
