//! Body-part segmentation from depth: synthetic frames, training determinism, accuracy on a
//! fresh seed, invalid depth as background, mismatched label images.

use classic_cv::bodyparts::depth::DepthImage;
use classic_cv::bodyparts::synth::{self, N_PARTS, SynthParams};
use classic_cv::bodyparts::{self, BodyPartForest, BodyPartsParams, LabelledFrame};
use classic_cv::{Error, persist};

fn frames(seed: u64, n: usize, p: &SynthParams) -> Vec<LabelledFrame> {
    (0..n)
        .map(|i| {
            LabelledFrame::from_synth(&synth::render_indexed(p, seed, i as u64).unwrap()).unwrap()
        })
        .collect()
}

fn small_params() -> BodyPartsParams {
    BodyPartsParams {
        n_trees: 2,
        max_depth: 12,
        pixels_per_image: 1000,
        candidates: 30,
        seed: 5,
        ..BodyPartsParams::default()
    }
}

fn train_in_pool(p: &BodyPartsParams, f: &[LabelledFrame], threads: usize) -> BodyPartForest {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| bodyparts::train(p, f).unwrap())
}

/// Same seed, same forest with 1 and 2 threads (the root nodes, 10k samples, score their
/// 30 candidates on 3000-sample subsets and in parallel), and the binary model round-trips.
#[test]
fn training_is_deterministic_across_thread_counts() {
    let f = frames(11, 10, &SynthParams::default());
    let p = BodyPartsParams {
        split_samples: 3000,
        ..small_params()
    };
    let one = train_in_pool(&p, &f, 1);
    let two = train_in_pool(&p, &f, 2);
    assert!(one == two, "forest depends on the thread count");
    assert!(one.trees.iter().all(|t| t.depth() <= 12));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bp.bin");
    persist::save(&path, &one).unwrap();
    let back: BodyPartForest = persist::load(&path).unwrap();
    assert!(back == one);
    // Inference is thread-independent too.
    let seg1 = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| one.segment(&f[0].depth).unwrap());
    assert_eq!(seg1, one.segment(&f[0].depth).unwrap());
}

/// A small forest (40 frames) already labels most body pixels of frames from a seed never
/// used in training; the full-size result is in the README.
#[test]
fn small_forest_generalises_to_a_fresh_seed() {
    let train = frames(21, 40, &SynthParams::default());
    let test = frames(22, 8, &SynthParams::default());
    let f = bodyparts::train(
        &BodyPartsParams {
            n_trees: 2,
            max_depth: 16,
            pixels_per_image: 1000,
            candidates: 40,
            ..BodyPartsParams::default()
        },
        &train,
    )
    .unwrap();
    let m = bodyparts::metrics::evaluate(&f, &test).unwrap();
    assert!(m.scores.pixel_accuracy > 0.6, "{m:?}");
    assert!(m.scores.mean_class_accuracy > 0.5, "{m:?}");
    assert!(m.scores.miou > 0.35, "{m:?}");
    assert_eq!(m.scores.per_class_iou.len(), N_PARTS);
    // The confusion-based numbers agree with a direct count of correct pixels.
    let (mut ok, mut all) = (0u64, 0u64);
    for fr in &test {
        let seg = f.segment(&fr.depth).unwrap();
        for (&t, &p) in fr.labels.iter().zip(&seg) {
            if t > 0 || p > 0 {
                all += 1;
                ok += (t == p) as u64;
            }
        }
    }
    assert!((m.scores.pixel_accuracy - ok as f64 / all as f64).abs() < 1e-12);
    // Joint proposals: most visible part centres within 0.1 m... at least some of them.
    assert!(m.joint_detection_rate > 0.3, "{m:?}");
}

/// NaN, zero, negative and missing depth readings are background: never labelled, and
/// never a training pixel.
#[test]
fn invalid_depth_is_background() {
    let p = SynthParams {
        missing: 0.2,
        noise: 0.005,
        ..SynthParams::default()
    };
    let train = frames(31, 6, &p);
    let f = bodyparts::train(&small_params(), &train).unwrap();
    let frame = synth::render_indexed(&SynthParams::default(), 32, 0).unwrap();
    let mut depth = frame.depth.clone();
    let body: Vec<usize> = (0..depth.len()).filter(|&i| frame.labels[i] > 0).collect();
    let spoiled: Vec<usize> = body.iter().copied().step_by(7).collect();
    for (k, &i) in spoiled.iter().enumerate() {
        depth[i] = [f32::NAN, 0.0, -1.0, f32::INFINITY][k % 4];
    }
    let img = DepthImage::from_metres(frame.width, frame.height, depth).unwrap();
    let seg = f.segment(&img).unwrap();
    for &i in &spoiled {
        assert_eq!(seg[i], 0, "invalid reading labelled");
    }
    let valid_body = body.iter().filter(|i| !spoiled.contains(i)).count();
    let labelled = seg.iter().filter(|&&l| l > 0).count();
    assert_eq!(labelled, valid_body);
    // Frames with missing pixels (written as 0 mm) read back as background.
    let dir = tempfile::tempdir().unwrap();
    let holes = synth::render_indexed(&p, 33, 0).unwrap();
    synth::write_frame(dir.path(), "x", &holes).unwrap();
    let back = LabelledFrame::from_synth(&synth::read_frame(dir.path(), "x").unwrap()).unwrap();
    for i in 0..holes.labels.len() {
        assert_eq!(
            back.depth.is_body(i % holes.width, i / holes.width),
            holes.depth[i] > 0.0
        );
    }
}

#[test]
fn label_image_of_another_size_is_an_error() {
    let fr = synth::render_indexed(&SynthParams::default(), 41, 0).unwrap();
    let depth = DepthImage::from_metres(fr.width, fr.height, fr.depth.clone()).unwrap();
    let r = LabelledFrame::new(depth.clone(), vec![0; 100 * 100], fr.focal, vec![]);
    assert!(matches!(
        r,
        Err(Error::DimensionMismatch {
            expected: 76800,
            found: 10000,
            ..
        })
    ));
    let r = LabelledFrame::new(depth, vec![N_PARTS as u8 + 1; 76800], fr.focal, vec![]);
    assert!(matches!(r, Err(Error::InvalidParam { .. })));
    let dir = tempfile::tempdir().unwrap();
    synth::write_frame(dir.path(), "a", &fr).unwrap();
    image::GrayImage::new(160, 120)
        .save(dir.path().join("a_labels.png"))
        .unwrap();
    let e = synth::read_frame(dir.path(), "a").unwrap_err();
    assert!(matches!(e, Error::Format { .. }));
    assert!(e.to_string().contains("160x120"), "{e}");
}

#[test]
fn each_validation_rule_is_checked() {
    let d = BodyPartsParams::default();
    assert!(d.validate().is_ok());
    let cases = [
        (
            BodyPartsParams {
                n_trees: 0,
                ..d.clone()
            },
            "n_trees",
        ),
        (
            BodyPartsParams {
                max_depth: 0,
                ..d.clone()
            },
            "max_depth",
        ),
        (
            BodyPartsParams {
                max_depth: 41,
                ..d.clone()
            },
            "max_depth",
        ),
        (
            BodyPartsParams {
                pixels_per_image: 0,
                ..d.clone()
            },
            "pixels_per_image",
        ),
        (
            BodyPartsParams {
                candidates: 0,
                ..d.clone()
            },
            "candidates",
        ),
        (
            BodyPartsParams {
                radius: f32::NAN,
                ..d.clone()
            },
            "radius",
        ),
        (
            BodyPartsParams {
                unary: 1.5,
                ..d.clone()
            },
            "unary",
        ),
        (
            BodyPartsParams {
                min_samples_split: 1,
                ..d.clone()
            },
            "min_samples_split",
        ),
        (
            BodyPartsParams {
                split_samples: 99,
                ..d.clone()
            },
            "split_samples",
        ),
    ];
    let f = frames(51, 1, &SynthParams::default());
    for (p, field) in cases {
        assert!(
            matches!(p.validate(), Err(Error::InvalidParam { name, .. }) if name == field),
            "{field}"
        );
        assert!(matches!(
            bodyparts::train(&p, &f),
            Err(Error::InvalidParam { .. })
        ));
    }
    assert!(matches!(
        bodyparts::train(&d, &[]),
        Err(Error::EmptyInput { .. })
    ));
    let s = SynthParams {
        distance: [3.0, 2.0],
        ..SynthParams::default()
    };
    assert!(matches!(
        synth::render(&s, 0),
        Err(Error::InvalidParam {
            name: "distance",
            ..
        })
    ));
}

/// A frame with no body (all background) gives no training pixel: one class is an error.
#[test]
fn empty_frames_are_too_few_classes() {
    let img = DepthImage::from_metres(32, 24, vec![0.0; 32 * 24]).unwrap();
    let f = LabelledFrame::new(img, vec![0; 32 * 24], 285.0, vec![]).unwrap();
    assert!(matches!(
        bodyparts::train(&small_params(), &[f]),
        Err(Error::TooFewClasses { found: 0 })
    ));
}
