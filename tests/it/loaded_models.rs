//! Model files are untrusted input: for every kind, a bit-flipped or truncated file and a
//! hand-crafted file whose sizes, counts or numbers are wrong end in an error naming the
//! file and the problem, never in a panic, a huge allocation or a model that fails later.

use std::fmt::Debug;

use classic_cv::bodyparts::{self, BodyPartsParams, LabelledFrame, synth};
use classic_cv::detect::cascade::Cascade;
use classic_cv::detect::haar::{HaarFeature, WeightedRect};
use classic_cv::detect::train::stage::{TrainedStage, TrainedStump};
use classic_cv::detect::train::{CascadeTrainingParams, TrainState};
use classic_cv::encode::bovw::BovwParams;
use classic_cv::encode::encoder::LocalFeatures;
use classic_cv::encode::fisher::FisherParams;
use classic_cv::encode::gmm::GmmParams;
use classic_cv::encode::homkermap::HomKerMap;
use classic_cv::encode::kmeans::KMeansParams;
use classic_cv::encode::vlad::VladParams;
use classic_cv::features::pixels::Pixels;
use classic_cv::features::sift::DenseSift;
use classic_cv::persist::{self, Model};
use classic_cv::pipeline::Fit;
use serde_json::{Value, json};

/// An edit of the decoded model (`model` of the envelope) and a word the error must hold.
type Edit = (&'static str, fn(&mut Value), &'static str);

/// Saves `model` (JSON and binary), checks that it loads back, that flipping a byte of the
/// binary payload and cutting either file are errors, and that each edit is refused with a
/// message naming the file and containing the edit's word.
fn check_kind<T: Model + PartialEq + Debug>(model: &T, edits: &[Edit]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (json_path, bin_path) = (d.join("m.json"), d.join("m.bin"));
    persist::save(&json_path, model).unwrap();
    persist::save(&bin_path, model).unwrap();
    assert_eq!(&persist::load::<T>(&json_path).unwrap(), model);
    assert_eq!(&persist::load::<T>(&bin_path).unwrap(), model);

    let bytes = std::fs::read(&bin_path).unwrap();
    // The payload: after magic, version, kind length, kind and payload length; before the
    // 32-byte checksum.
    let (start, end) = (24 + T::kind().len(), bytes.len() - 32);
    let at_list = if end > start {
        vec![start, (start + end) / 2, end - 1]
    } else {
        vec![end] // an empty payload: the checksum
    };
    for at in at_list {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x40;
        let p = d.join("flipped.bin");
        std::fs::write(&p, &flipped).unwrap();
        let e = persist::load::<T>(&p).unwrap_err().to_string();
        assert!(e.contains("flipped.bin") && e.contains("corrupted"), "{e}");
    }
    let p = d.join("cut.bin");
    std::fs::write(&p, &bytes[..bytes.len() - 33]).unwrap();
    let e = persist::load::<T>(&p).unwrap_err().to_string();
    assert!(e.contains("cut.bin") && e.contains("truncated"), "{e}");

    let env: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    for (name, edit, word) in edits {
        let mut e = env.clone();
        e.as_object_mut().unwrap().remove("sha256");
        edit(&mut e["model"]);
        let p = d.join(format!("{name}.json"));
        std::fs::write(&p, serde_json::to_vec(&e).unwrap()).unwrap();
        let msg = match persist::load::<T>(&p) {
            Ok(m) => panic!("{} edit `{name}` was accepted: {m:?}", T::kind()),
            Err(e) => e.to_string(),
        };
        assert!(
            msg.contains(&format!("{name}.json")) && msg.contains(word),
            "{} edit `{name}`: `{word}` missing from: {msg}",
            T::kind()
        );
    }
}

/// Two small images of 2-D descriptors for the codebook encoders.
fn local_features() -> Vec<LocalFeatures> {
    let desc = |o: f32| {
        ndarray::Array2::from_shape_fn((12, 2), |(i, j)| o + (i % 3) as f32 + j as f32 * 0.5)
    };
    [0.0, 5.0]
        .iter()
        .map(|&o| LocalFeatures {
            descriptors: desc(o),
            positions: (0..12).map(|i| [i as f32, 1.0]).collect(),
            width: 16,
            height: 4,
        })
        .collect()
}

fn kmeans(k: usize) -> KMeansParams {
    KMeansParams {
        k,
        ..Default::default()
    }
}

#[test]
fn codebook_encoders_check_their_codebooks() {
    let f = local_features();
    let bovw = BovwParams {
        kmeans: kmeans(3),
        ..Default::default()
    }
    .fit(&f, &[0, 1])
    .unwrap();
    check_kind(
        &bovw,
        &[
            (
                "levels",
                |m| m["params"]["pyramid"] = json!(vec![1; 9]),
                "levels",
            ),
            ("grid", |m| m["params"]["pyramid"] = json!([65]), "pyramid"),
            (
                "nocentres",
                |m| m["codebook"]["centres"] = json!({"v": 1, "dim": [0, 2], "data": []}),
                "centres",
            ),
            (
                "shape",
                |m| m["codebook"]["centres"]["dim"] = json!([3, 3]),
                "model does not decode",
            ),
        ],
    );
    let vlad = VladParams {
        kmeans: kmeans(2),
        ..Default::default()
    }
    .fit(&f, &[0, 1])
    .unwrap();
    check_kind(
        &vlad,
        &[
            (
                "nocentres",
                |m| m["codebook"]["centres"] = json!({"v": 1, "dim": [2, 0], "data": []}),
                "centres",
            ),
            ("k0", |m| m["params"]["kmeans"]["k"] = json!(0), "k"),
        ],
    );
}

#[test]
fn fisher_checks_its_mixture() {
    let fisher = FisherParams {
        gmm: GmmParams {
            k: 2,
            ..Default::default()
        },
        ..Default::default()
    }
    .fit(&local_features(), &[0, 1])
    .unwrap();
    check_kind(
        &fisher,
        &[
            (
                "variance",
                |m| m["gmm"]["variances"]["data"][1] = json!(-1.0),
                "variance",
            ),
            ("priors", |m| m["gmm"]["priors"] = json!([1.0]), "priors"),
            (
                "negprior",
                |m| m["gmm"]["priors"] = json!([-0.5, 1.5]),
                "priors",
            ),
            (
                "means",
                |m| m["gmm"]["means"] = json!({"v": 1, "dim": [2, 3], "data": [0, 0, 0, 1, 1, 1]}),
                "GMM",
            ),
            (
                "huge",
                |m| m["gmm"]["means"]["data"][0] = json!(1e300),
                "out of range",
            ),
        ],
    );
}

#[test]
fn stateless_stages_check_their_parameters() {
    check_kind(
        &HomKerMap::default(),
        &[
            ("gamma", |m| m["gamma"] = json!(-1.0), "gamma"),
            ("order", |m| m["order"] = json!(1_000_000), "order"),
            ("period", |m| m["period"] = json!(0.0), "period"),
        ],
    );
    check_kind(
        &DenseSift::default(),
        &[
            ("step", |m| m["step"] = json!(0), "step"),
            ("bin", |m| m["bin_size"] = json!(1u64 << 40), "bin_size"),
            ("scales", |m| m["scales"] = json!(vec![4; 100]), "scales"),
            (
                "magnif",
                |m| {
                    m["scales"] = json!([4, 6]);
                    m["magnif"] = json!(1e-30);
                },
                "magnif",
            ),
        ],
    );
    check_kind(
        &Pixels::default(),
        &[("unknown", |m| m["size"] = json!(1), "unknown field")],
    );
}

#[test]
fn cascades_check_features_and_trees() {
    let p = super::locate::cache().join("opencv/lbpcascades/lbpcascade_frontalface.xml");
    assert!(
        p.exists(),
        "{} missing: run `classic-cv fetch-data`",
        p.display()
    );
    let cascade = Cascade::load(&p).unwrap();
    check_kind(
        &cascade,
        &[
            (
                "feature",
                |m| m["stages"][0]["trees"][0]["nodes"][0]["feature"] = json!(99_999),
                "out of range",
            ),
            (
                "child",
                |m| m["stages"][0]["trees"][0]["nodes"][0]["left"] = json!(1),
                "child",
            ),
            (
                "window",
                |m| m["window_width"] = json!(1u64 << 40),
                "window",
            ),
            ("nostages", |m| m["stages"] = json!([]), "stages"),
            (
                "rect",
                |m| m["lbp_features"][0]["x"] = json!(4000),
                "window",
            ),
        ],
    );
}

fn train_state() -> TrainState {
    let rect = |x, weight| WeightedRect {
        x,
        y: 0,
        width: 4,
        height: 8,
        weight,
    };
    TrainState {
        params: CascadeTrainingParams::default(),
        data_hash: 7,
        stages: vec![TrainedStage {
            threshold: -0.5,
            stumps: vec![TrainedStump {
                feature: HaarFeature {
                    rects: vec![rect(0, -1.0), rect(4, 2.0)],
                    tilted: false,
                },
                threshold: 0.1,
                left: -1.0,
                right: 1.0,
            }],
            positives: 10,
            negatives: 10,
            hit_rate: 1.0,
            false_alarm: 0.4,
            acceptance: 1.0,
        }],
        stop_reason: String::new(),
    }
}

#[test]
fn cascade_training_checkpoints_check_their_stages() {
    check_kind(
        &train_state(),
        &[
            (
                "outside",
                |m| m["stages"][0]["stumps"][0]["feature"]["rects"][1]["x"] = json!(4000),
                "outside",
            ),
            (
                "weight",
                |m| m["stages"][0]["stumps"][0]["feature"]["rects"][1]["weight"] = json!(1e9),
                "weight",
            ),
            (
                "tilted",
                |m| m["stages"][0]["stumps"][0]["feature"]["tilted"] = json!(true),
                "tilted",
            ),
            ("rate", |m| m["stages"][0]["hit_rate"] = json!(2.5), "rate"),
            ("nostump", |m| m["stages"][0]["stumps"] = json!([]), "stump"),
            (
                "window",
                |m| m["params"]["window_width"] = json!(100_000),
                "window",
            ),
        ],
    );
}

#[test]
fn body_part_forests_check_their_trees() {
    let frames: Vec<LabelledFrame> = (0..2)
        .map(|i| {
            let f = synth::render_indexed(&synth::SynthParams::default(), 3, i).unwrap();
            LabelledFrame::from_synth(&f).unwrap()
        })
        .collect();
    let forest = bodyparts::train(
        &BodyPartsParams {
            n_trees: 1,
            max_depth: 4,
            pixels_per_image: 200,
            candidates: 5,
            ..BodyPartsParams::default()
        },
        &frames,
    )
    .unwrap();
    check_kind(
        &forest,
        &[
            ("parts", |m| m["n_parts"] = json!(1u64 << 40), "parts"),
            (
                "offsets",
                |m| m["depth_offsets"] = json!([0.0]),
                "depth offsets",
            ),
            ("notrees", |m| m["trees"] = json!([]), "trees"),
            // A child pointing back at its parent would loop forever.
            (
                "cycle",
                |m| m["trees"][0]["children"][1] = json!(0),
                "malformed",
            ),
            (
                "leaf",
                |m| m["trees"][0]["children"][1] = json!(0x8000_0000u32 | 1_000_000),
                "malformed",
            ),
            (
                "negative",
                |m| m["trees"][0]["distributions"][0] = json!(-1.0),
                "negative",
            ),
            (
                "classes",
                |m| m["trees"][0]["n_classes"] = json!(3),
                "malformed",
            ),
        ],
    );
}
