//! Lab: the classical image classifier in a dozen lines. Dense SIFT on every image, a k-means
//! codebook learnt from a sample of the training images, a bag of visual words with a 1+2x2
//! spatial pyramid, then a linear SVM; trained on 3,000 Fashion-MNIST images, tested on 1,000.
//!
//! ```sh
//! cargo run --release -- fetch-data
//! cargo run --release --example lab_bovw_svm [-- TRAIN TEST]
//! ```
//!
//! Try `encoding: Encoding::Vlad` (residuals instead of counts) or a larger `k`, and compare.

use classic_cv::datasets::{Split, fashion_mnist, fetch};
use classic_cv::encode::encoder::{EncoderParams, Encoding};
use classic_cv::features::sift::DenseSift;
use classic_cv::learn::svm::LinearSvmParams;
use classic_cv::pipeline::{Fit, Transform};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let n_train = args.next().transpose()?.unwrap_or(3_000);
    let n_test = args.next().transpose()?.unwrap_or(1_000);
    let dir = fetch::require(&fetch::default_cache_dir(), "fashion-mnist")?;
    let train = fashion_mnist(&dir, Split::Train)?.truncate(n_train);
    let test = fashion_mnist(&dir, Split::Test)?.truncate(n_test);

    let pipeline = EncoderParams {
        upscale: 2, // 28x28 -> 56x56, so the 4x4-bin descriptors see detail
        pad: 8,     // so that descriptors reach the border
        sift: DenseSift {
            step: 2,
            bin_size: 5,
            root_sift: true,
            ..DenseSift::default()
        },
        encoding: Encoding::Bovw,
        k: 128,
        pyramid: vec![1, 2],
        codebook_images: 1_000,
        ..EncoderParams::default()
    }
    .then(LinearSvmParams {
        c: 1.0,
        ..LinearSvmParams::default()
    });

    let start = std::time::Instant::now();
    let model = pipeline.fit(&train.images, &train.labels)?;
    let fit_s = start.elapsed().as_secs_f64();
    let predicted = model.transform_batch(&test.images)?;
    let correct = predicted
        .iter()
        .zip(&test.labels)
        .filter(|(p, t)| p == t)
        .count();
    println!(
        "BoVW (k 128, 1+2x2 pyramid) + linear SVM: test accuracy {:.4} on {} images \
         (trained on {} in {fit_s:.1} s)",
        correct as f64 / test.len() as f64,
        test.len(),
        train.len()
    );
    Ok(())
}
