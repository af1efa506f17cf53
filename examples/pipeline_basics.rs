//! The estimator contract on real data: standardise raw Fashion-MNIST pixels, classify by
//! the nearest class centroid, save the fitted pipeline, reload it and check it predicts the
//! same. Runs on 2,000 training images by default; `--full` uses all 60,000.
//!
//! ```sh
//! cargo run --release -- fetch-data
//! cargo run --release --example pipeline_basics [-- --full]
//! ```

use classic_cv::datasets::{Split, fashion_mnist};
use classic_cv::learn::centroid::NearestCentroidParams;
use classic_cv::learn::preprocess::StandardizeParams;
use classic_cv::pipeline::{Fit, Transform};
use classic_cv::{datasets::fetch, persist};

fn main() -> anyhow::Result<()> {
    let full = std::env::args().any(|a| a == "--full");
    let dir = fetch::require(&fetch::default_cache_dir(), "fashion-mnist")?;
    let train = fashion_mnist(&dir, Split::Train)?.truncate(if full { 60_000 } else { 2_000 });
    let test = fashion_mnist(&dir, Split::Test)?;

    // Features: the raw pixels of each image as one vector.
    let pixels = |ds: &classic_cv::datasets::Dataset| -> Vec<Vec<f32>> {
        ds.images.iter().map(|im| im.as_slice().to_vec()).collect()
    };
    let (x_train, x_test) = (pixels(&train), pixels(&test));

    // Params are plain data; `then` chains them; `fit` returns the fitted chain.
    let model = StandardizeParams::default()
        .then(NearestCentroidParams::default())
        .fit(&x_train, &train.labels)?;
    let predicted = model.transform_batch(&x_test)?;
    let correct = predicted
        .iter()
        .zip(&test.labels)
        .filter(|(p, t)| p == t)
        .count();

    // One call saves the whole fitted pipeline; loading checks kind, version and checksum.
    let path = std::env::temp_dir().join("classic-cv-pipeline-basics.bin");
    persist::save(&path, &model)?;
    let reloaded: classic_cv::Chain<_, _> = persist::load(&path)?;
    assert_eq!(reloaded, model);

    println!("| training images | test accuracy | model file |");
    println!("|---:|---:|---|");
    println!(
        "| {} | {:.4} | {} ({} bytes) |",
        train.len(),
        correct as f32 / test.len() as f32,
        path.display(),
        std::fs::metadata(&path)?.len()
    );
    Ok(())
}
