//! Model selection for the dense-SIFT encoder pipeline on a validation split of the
//! Fashion-MNIST *training* set (never the test set): encode once, fit the linear SVM for
//! every C.
//!
//! `cargo run --release --example e2e_validate -- CONFIG.json N_TRAIN N_VAL C1,C2,...`
//! trains on train[0..N_TRAIN] and scores on train[60000-N_VAL..60000].

use std::time::Instant;

use classic_cv::classify::config::{ClassifierConfig, FeaturesConfig, PipelineConfig};
use classic_cv::datasets::{Split, fashion_mnist};
use classic_cv::pipeline::{Fit, Transform};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1])?;
    let config = PipelineConfig::from_json(&text, &args[1])?;
    let n_train: usize = args[2].parse().expect("N_TRAIN");
    let n_val: usize = args[3].parse().expect("N_VAL");
    let cs: Vec<f32> = args[4].split(',').map(|c| c.parse().expect("C")).collect();
    let dir = classic_cv::datasets::fetch::default_cache_dir().join("fashion-mnist");
    let data = fashion_mnist(&dir, Split::Train)?;
    let train = data.subset(&(0..n_train).collect::<Vec<_>>());
    let val = data.subset(&(60000 - n_val..60000).collect::<Vec<_>>());
    let FeaturesConfig::Encoder(p) = &config.features else {
        panic!("encoder features expected")
    };
    let t = Instant::now();
    let enc = p.fit(&train.images, &train.labels)?;
    let t_cb = t.elapsed().as_secs_f32();
    let t = Instant::now();
    let xtr = enc.transform_batch(&train.images)?;
    let xva = enc.transform_batch(&val.images)?;
    let t_enc = t.elapsed().as_secs_f32();
    println!(
        "dim {} codebook {t_cb:.1}s encode {t_enc:.1}s ({} images)",
        enc.dim(),
        n_train + n_val
    );
    let ClassifierConfig::LinearSvm(svm) = &config.classifier else {
        panic!("linear_svm expected")
    };
    for c in cs {
        let t = Instant::now();
        let m = classic_cv::learn::svm::LinearSvmParams { c, ..svm.clone() }
            .fit(&xtr, &train.labels)?;
        let pred = m.transform_batch(&xva)?;
        let acc =
            pred.iter().zip(&val.labels).filter(|(a, b)| a == b).count() as f32 / n_val as f32;
        println!(
            "C={c} val_acc={acc:.4} svm {:.1}s",
            t.elapsed().as_secs_f32()
        );
    }
    Ok(())
}
