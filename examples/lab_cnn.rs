//! Lab: the small CNN (two convolutions, two dense layers) on a slice of Fashion-MNIST, with
//! the test accuracy after every epoch, next to the classical pipelines of `lab_bovw_svm`.
//!
//! ```sh
//! cargo run --release -- fetch-data
//! cargo run --release --example lab_cnn [-- TRAIN TEST EPOCHS]
//! ```

use classic_cv::cnn::CnnParams;
use classic_cv::datasets::{Split, fashion_mnist, fetch};
use classic_cv::pipeline::Transform;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let n_train = args.next().transpose()?.unwrap_or(6_000);
    let n_test = args.next().transpose()?.unwrap_or(1_000);
    let epochs = args.next().transpose()?.unwrap_or(3);
    let dir = fetch::require(&fetch::default_cache_dir(), "fashion-mnist")?;
    let train = fashion_mnist(&dir, Split::Train)?.truncate(n_train);
    let test = fashion_mnist(&dir, Split::Test)?.truncate(n_test);

    // The default network and recipe (AdamW, one-cycle schedule, label smoothing, flips),
    // fewer epochs; every field of `CnnParams` can be changed the same way.
    let params = CnnParams {
        epochs,
        ..CnnParams::default()
    };
    let start = std::time::Instant::now();
    let cnn = params.fit_with_eval(
        &train.images,
        &train.labels,
        Some((&test.images, &test.labels)),
    )?;
    for (i, epoch) in cnn.history.iter().enumerate() {
        println!(
            "epoch {}: learning rate {:.2e}, test accuracy {:.4}",
            i + 1,
            epoch.learning_rate,
            epoch.eval_accuracy.unwrap_or(f32::NAN)
        );
    }
    let predicted = cnn.transform_batch(&test.images)?;
    let correct = predicted
        .iter()
        .zip(&test.labels)
        .filter(|(p, t)| p == t)
        .count();
    println!(
        "CNN: test accuracy {:.4} on {} images (trained on {} in {:.1} s)",
        correct as f64 / test.len() as f64,
        test.len(),
        train.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
