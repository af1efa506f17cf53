//! Viola-Jones: bit-exact parity with OpenCV 4.14, thread safety, loader robustness.

use std::path::PathBuf;

use classic_cv::detect::cascade::Cascade;
use classic_cv::detect::{self, DetectParams, Detection, Detector, FrameStream, Grouping};
use classic_cv::{Error, Image};
use proptest::prelude::*;

use crate::locate::cache;

/// OpenCV's anchor outputs.
fn anchors() -> PathBuf {
    crate::locate::anchors("opencv")
}

fn cascade_path(name: &str) -> PathBuf {
    let c = cache().join("opencv");
    match name {
        "haar_default" => c.join("haarcascades/haarcascade_frontalface_default.xml"),
        "haar_alt" => c.join("haarcascades/haarcascade_frontalface_alt.xml"),
        "lbp_improved" => c.join("lbpcascades/lbpcascade_frontalface_improved.xml"),
        other => c.join(other),
    }
}

fn gray_u8(path: &std::path::Path) -> (Vec<u8>, usize, usize) {
    let img = Image::load(path).unwrap();
    (img.to_u8(), img.width(), img.height())
}

#[test]
fn detections_equal_opencv_on_every_anchor_frame() {
    let dir = anchors();
    let text = std::fs::read_to_string(dir.join("detections.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    for cname in ["haar_default", "haar_alt", "lbp_improved"] {
        let det = Detector::new(Cascade::load(cascade_path(cname)).unwrap()).unwrap();
        let per_mn = &json["detections"][cname];
        let frames: Vec<String> = per_mn["minNeighbors=0"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert!(frames.len() >= 8, "{} frames", frames.len());
        for stem in frames {
            let (px, w, h) = gray_u8(&dir.join(format!("frames/{stem}_gray.png")));
            let base = DetectParams {
                min_size: (24, 24),
                ..Default::default()
            };
            let raw = det.raw_hits(&px, w, h, &base).unwrap();
            for mn in [0usize, 3, 5] {
                let p = DetectParams {
                    min_neighbors: mn,
                    ..base.clone()
                };
                let ours: Vec<[u32; 4]> = detect::group::group_and_clip(&raw, &p, w, h)
                    .iter()
                    .map(|d| [d.rect.x, d.rect.y, d.rect.width, d.rect.height])
                    .collect();
                let want: Vec<[u32; 4]> = serde_json::from_value(
                    per_mn[format!("minNeighbors={mn}")][&stem]["boxes_xywh"].clone(),
                )
                .unwrap();
                let (mut a, mut b) = (ours.clone(), want.clone());
                a.sort();
                b.sort();
                assert_eq!(a, b, "{cname} {stem} minNeighbors={mn}: box sets differ");
                // Single-threaded OpenCV's order is reproduced too.
                assert_eq!(ours, want, "{cname} {stem} minNeighbors={mn}: order");
                checked += 1;
            }
        }
    }
    assert!(checked >= 3 * 8 * 3);
}

#[test]
fn portable_and_dispatched_lane_code_give_identical_raw_windows() {
    let dir = anchors().join("frames");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("_gray.png"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 8);
    let det = Detector::new(Cascade::load(cascade_path("haar_default")).unwrap()).unwrap();
    let portable = det.clone().with_portable_simd(true);
    // Scales 1.1 (step-2 and step-1 levels) and 1.3 from the smallest window.
    let params = [
        DetectParams {
            min_size: (24, 24),
            ..Default::default()
        },
        DetectParams {
            scale_factor: 1.3,
            ..Default::default()
        },
    ];
    let mut hits = 0;
    for path in &paths {
        let (px, w, h) = gray_u8(path);
        for p in &params {
            let a = det.raw_hits(&px, w, h, p).unwrap();
            let b = portable.raw_hits(&px, w, h, p).unwrap();
            assert_eq!(a, b, "{}", path.display());
            hits += a.len();
        }
    }
    assert!(hits > 100, "{hits} raw windows");
}

#[test]
fn detect_u8_equals_raw_hits_then_grouping() {
    let dir = anchors();
    let (px, w, h) = gray_u8(&dir.join("frames/astronaut_gray.png"));
    let det = Detector::new(Cascade::load(cascade_path("haar_default")).unwrap()).unwrap();
    let p = DetectParams {
        min_size: (24, 24),
        ..Default::default()
    };
    let raw = det.raw_hits(&px, w, h, &p).unwrap();
    let direct = det.detect_u8(&px, w, h, &p).unwrap();
    assert_eq!(direct, detect::group::group_and_clip(&raw, &p, w, h));
    assert!(!direct.is_empty());
    // Neighbours are the member counts: they add up to at most the raw count.
    assert!(direct.iter().map(|d| d.neighbors).sum::<usize>() <= raw.len());
    // NMS keeps the best-scored raw window first and never two boxes with IoU > 0.3.
    let nms = DetectParams {
        grouping: Grouping::Nms { iou: 0.3 },
        min_neighbors: 0,
        ..p
    };
    let kept = det.detect_u8(&px, w, h, &nms).unwrap();
    let best = raw.iter().map(|r| r.score).fold(f64::MIN, f64::max);
    assert_eq!(kept[0].score, best);
    for (i, a) in kept.iter().enumerate() {
        for b in &kept[i + 1..] {
            assert!(a.rect.iou(&b.rect) <= 0.3);
        }
    }
}

#[test]
fn shared_detector_across_threads_equals_sequential_calls() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Detector>();
    let dir = anchors();
    let det = Detector::new(Cascade::load(cascade_path("lbp_improved")).unwrap()).unwrap();
    let p = DetectParams {
        min_size: (24, 24),
        ..Default::default()
    };
    let stems = ["astronaut", "bald_guys", "dogs", "2008_001322"];
    let images: Vec<_> = stems
        .iter()
        .map(|s| gray_u8(&dir.join(format!("frames/{s}_gray.png"))))
        .collect();
    let sequential: Vec<_> = images
        .iter()
        .map(|(px, w, h)| det.detect_u8(px, *w, *h, &p).unwrap())
        .collect();
    let parallel: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = images
            .iter()
            .map(|(px, w, h)| s.spawn(|| det.detect_u8(px, *w, *h, &p).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(sequential, parallel);
    // One thread in the rayon pool gives the same output as the default pool.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| {
            det.detect_u8(&images[0].0, images[0].1, images[0].2, &p)
                .unwrap()
        });
    assert_eq!(one, sequential[0]);
    // The stream mode reuses its buffers and gives the same boxes frame after frame.
    let (w, h) = (images[0].1, images[0].2);
    let mut stream = FrameStream::new(&det, w, h, p.clone()).unwrap();
    for _ in 0..2 {
        for (img, want) in images.iter().zip(&sequential) {
            assert_eq!(&stream.detect(&img.0).unwrap(), want);
        }
    }
    assert!(matches!(
        stream.detect(&images[0].0[..w * h - 1]),
        Err(Error::DimensionMismatch { .. })
    ));
    // Batches (one frame per thread, as `--raw` runs) give each frame's own boxes, in
    // order, in a 2-thread pool and for batches of 1 to 3 frames.
    let same_size: Vec<(&[u8], &Vec<Detection>)> = images
        .iter()
        .zip(&sequential)
        .filter(|(img, _)| (img.1, img.2) == (w, h))
        .map(|(img, want)| (&img.0[..], want))
        .collect();
    assert!(same_size.len() >= 2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for n in 1..=3 {
        let frames: Vec<&[u8]> = (0..n).map(|k| same_size[k % same_size.len()].0).collect();
        let got = pool.install(|| stream.detect_batch(&frames)).unwrap();
        let want: Vec<Vec<Detection>> = (0..n)
            .map(|k| same_size[k % same_size.len()].1.clone())
            .collect();
        assert_eq!(got, want, "batch of {n}");
    }
    assert!(matches!(
        stream.detect_batch(&[same_size[0].0, &images[0].0[..w * h - 1]]),
        Err(Error::DimensionMismatch { .. })
    ));
    // One scratch shared by two different detectors keeps their programs apart.
    let haar = Detector::new(Cascade::load(cascade_path("haar_default")).unwrap()).unwrap();
    let mut scratch = detect::Scratch::default();
    for _ in 0..2 {
        let (px, w, h) = &images[1];
        let a = det.detect_u8_with(&mut scratch, px, *w, *h, &p).unwrap();
        let b = haar.detect_u8_with(&mut scratch, px, *w, *h, &p).unwrap();
        assert_eq!(a, sequential[1]);
        assert_eq!(b, haar.detect_u8(px, *w, *h, &p).unwrap());
    }
}

#[test]
fn old_format_and_tilted_cascades_load() {
    let plate = Cascade::load(cascade_path(
        "haarcascades/haarcascade_licence_plate_rus_16stages.xml",
    ))
    .unwrap();
    assert_eq!((plate.window_width, plate.window_height), (64, 16));
    assert_eq!(plate.stages.len(), 16);
    let eyes = Cascade::load(cascade_path(
        "haarcascades/haarcascade_eye_tree_eyeglasses.xml",
    ))
    .unwrap();
    assert!(eyes.has_tilted() && !eyes.is_stump_based());
    let n_tilted = eyes.haar_features.iter().filter(|f| f.tilted).count();
    assert_eq!(n_tilted, 577);
    // Every cached cascade loads, and the writer round-trips each of them exactly.
    for sub in ["haarcascades", "lbpcascades"] {
        for entry in std::fs::read_dir(cache().join("opencv").join(sub)).unwrap() {
            let path = entry.unwrap().path();
            let c = Cascade::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let back = Cascade::from_xml(&c.to_xml(), "written.xml").unwrap();
            assert_eq!(back, c, "{}", path.display());
            Detector::new(c).unwrap();
        }
    }
    // The model also persists through the crate's serde format.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("eyes.json");
    classic_cv::persist::save(&file, &eyes).unwrap();
    assert_eq!(classic_cv::persist::load::<Cascade>(&file).unwrap(), eyes);
    // Tilted trees run end to end; a black image has no variance, hence no window.
    let det = Detector::new(eyes).unwrap();
    let black = vec![0u8; 80 * 60];
    assert!(
        det.raw_hits(&black, 80, 60, &DetectParams::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn broken_cascades_are_clear_errors() {
    let text = std::fs::read_to_string(cascade_path("haar_default")).unwrap();
    let expect = |t: &str, needle: &str| {
        let e = Cascade::from_xml(t, "x.xml").unwrap_err();
        assert!(matches!(e, Error::Format { .. }), "{e:?}");
        assert!(e.to_string().contains(needle), "`{e}` lacks `{needle}`");
    };
    expect(&text[..text.len() / 3], "malformed XML");
    expect(
        &text.replace("<featureType>HAAR", "<featureType>HOG"),
        "unknown feature type `HOG`",
    );
    expect(
        &text.replacen(
            "\n          6 4 12 9 -1.</_>",
            "\n          16 4 12 9 -1.</_>",
            1,
        ),
        "outside the 24x24 window",
    );
    expect(
        &text.replacen(
            "<stageThreshold>-5.0425500869750977e+00",
            "<stageThreshold>nan",
            1,
        ),
        "stage threshold",
    );
    expect(
        &text.replacen("-3.1511999666690826e-02", "NaN", 1),
        "node threshold",
    );
    assert!(matches!(
        Cascade::load("/nonexistent/cascade.xml"),
        Err(Error::Io { .. })
    ));
}

/// A short fuzz run: mutated and truncated real cascade files never panic the loader.
mod fuzz {
    use super::*;

    fn sources() -> Vec<String> {
        [
            "haar_alt",
            "lbp_improved",
            "haarcascades/haarcascade_licence_plate_rus_16stages.xml",
        ]
        .iter()
        .map(|n| std::fs::read_to_string(cascade_path(n)).unwrap())
        .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn mutated_cascades_never_panic(which in 0usize..3, cut in 0.0f64..1.0,
                                        edits in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 0..8)) {
            let src = &sources()[which];
            let mut bytes = src.as_bytes()[..(src.len() as f64 * cut) as usize + 1].to_vec();
            // Keep the tail of the file so that truncation is not the only damage.
            if which == 1 { bytes.extend_from_slice(&src.as_bytes()[src.len() / 2..]); }
            for (pos, b) in edits {
                let i = (pos * bytes.len() as f64) as usize % bytes.len();
                bytes[i] = b"0123456789-.e <>/_x"[b as usize % 19];
            }
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(c) = Cascade::from_xml(&text, "fuzz.xml") {
                // Whatever loads must also run.
                let det = Detector::new(c).unwrap();
                let px: Vec<u8> = (0..64 * 48).map(|i| (i * 7 % 251) as u8).collect();
                det.detect_u8(&px, 64, 48, &DetectParams::default()).unwrap();
            }
        }
    }
}

#[test]
fn equalized_and_plain_detections_equal_opencv_on_original_images() {
    let dir = anchors();
    let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let per_image = json["accuracy"]["per_image_detections"]
        .as_object()
        .unwrap();
    let mut checked = 0;
    for cname in ["haar_default", "haar_alt", "lbp_improved"] {
        let det = Detector::new(Cascade::load(cascade_path(cname)).unwrap()).unwrap();
        for stem in ["2007_007763", "2008_002079", "2008_001009", "2008_001322"] {
            let (mut px, w, h) = gray_u8(&dir.join(format!("frames/orig_gray/{stem}.png")));
            for pre in ["gray", "gray+equalizeHist"] {
                if pre != "gray" {
                    detect::resize::equalize_hist(&mut px);
                }
                let base = DetectParams {
                    min_size: (24, 24),
                    ..Default::default()
                };
                let raw = det.raw_hits(&px, w, h, &base).unwrap();
                for mn in [3usize, 5] {
                    let key = format!("training.xml/{cname}/{pre}/mn={mn}/{stem}");
                    let Some(want) = per_image.get(&key) else {
                        continue;
                    };
                    let mut want: Vec<[u32; 4]> = serde_json::from_value(want.clone()).unwrap();
                    let p = DetectParams {
                        min_neighbors: mn,
                        ..base.clone()
                    };
                    let mut ours: Vec<[u32; 4]> = detect::group::group_and_clip(&raw, &p, w, h)
                        .iter()
                        .map(|d| [d.rect.x, d.rect.y, d.rect.width, d.rect.height])
                        .collect();
                    ours.sort();
                    want.sort();
                    assert_eq!(ours, want, "{key}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 3 * 4 * 2 * 2);
}

/// The CLI's `--raw` stream: boxes equal to OpenCV's per frame, and a truncated stream is
/// a clear error with exit code 1.
#[test]
fn cli_raw_stream_matches_opencv_and_rejects_truncated_frames() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = anchors();
    let stems = ["astronaut", "dogs"];
    let mut stream = Vec::new();
    for s in stems {
        stream.extend(gray_u8(&dir.join(format!("frames/{s}_gray.png"))).0);
    }
    let run = |bytes: &[u8]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_classic-cv"))
            .args(["detect", "--cascade"])
            .arg(cascade_path("haar_default"))
            .args(["--raw", "640x480"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        child.wait_with_output().unwrap()
    };
    let ok = run(&stream);
    assert!(ok.status.success());
    let text = std::fs::read_to_string(dir.join("detections.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(ok.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for (k, (line, stem)) in lines.iter().zip(stems).enumerate() {
        assert_eq!(line["image"], k);
        let mut ours: Vec<[u32; 4]> = serde_json::from_value(line["boxes"].clone()).unwrap();
        let mut want: Vec<[u32; 4]> = serde_json::from_value(
            json["detections"]["haar_default"]["minNeighbors=3"][stem]["boxes_xywh"].clone(),
        )
        .unwrap();
        ours.sort();
        want.sort();
        assert_eq!(ours, want, "{stem}");
    }
    assert!(String::from_utf8_lossy(&ok.stderr).contains("fps"));
    let bad = run(&stream[..640 * 480 + 1000]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("raw frame size mismatch"), "{err}");
    assert!(!err.contains("internal error"), "{err}");
    // The complete frame before the truncated one is still written.
    let out = String::from_utf8(bad.stdout).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("{\"image\":0,"), "{out}");
}

/// Tilted features, deeper trees, the old file format and another LBP cascade, against
/// OpenCV 4.14's boxes frozen in tests/data/vj_opencv_extra.json.
#[test]
fn tilted_tree_and_old_format_cascades_equal_opencv() {
    let dir = anchors();
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/vj_opencv_extra.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(golden).unwrap()).unwrap();
    let cases = json["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 20);
    for case in cases {
        let det =
            Detector::new(Cascade::load(cascade_path(case["cascade"].as_str().unwrap())).unwrap())
                .unwrap();
        let stem = case["frame"].as_str().unwrap();
        let (px, w, h) = gray_u8(&dir.join(format!("frames/{stem}_gray.png")));
        let p = DetectParams {
            min_neighbors: case["min_neighbors"].as_u64().unwrap() as usize,
            ..Default::default()
        };
        let ours: Vec<[u32; 4]> = det
            .detect_u8(&px, w, h, &p)
            .unwrap()
            .iter()
            .map(|d| [d.rect.x, d.rect.y, d.rect.width, d.rect.height])
            .collect();
        let want: Vec<[u32; 4]> = serde_json::from_value(case["boxes"].clone()).unwrap();
        assert_eq!(ours, want, "{case}");
    }
}

/// The evaluation protocol reproduces the anchors' accuracy table (results.json) on the
/// dlib training faces: greedy IoU matching, TP/FP/FN at IoU 0.5 and 0.3.
#[test]
fn evaluation_reproduces_the_anchor_accuracy_counts() {
    let dir = anchors();
    let truth =
        classic_cv::datasets::read_imglab(dir.join("../data/dlibfaces/training.xml")).unwrap();
    let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let summary = json["accuracy"]["summary"].as_array().unwrap();
    let mut checked = 0;
    for cname in ["haar_default", "lbp_improved"] {
        let det = Detector::new(Cascade::load(cascade_path(cname)).unwrap()).unwrap();
        for mn in [3usize, 5] {
            let p = DetectParams {
                min_neighbors: mn,
                min_size: (24, 24),
                ..Default::default()
            };
            let mut images = Vec::new();
            for entry in &truth.images {
                let stem = std::path::Path::new(&entry.file).file_stem().unwrap();
                let (px, w, h) =
                    gray_u8(&dir.join(format!("frames/orig_gray/{}.png", stem.to_string_lossy())));
                let found = det.detect_u8(&px, w, h, &p).unwrap();
                let gt: Vec<_> = entry
                    .boxes
                    .iter()
                    .filter(|b| !b.ignore)
                    .filter_map(|b| b.clipped(w, h))
                    .collect();
                images.push((
                    found.iter().map(|d| (d.rect, d.neighbors as f64)).collect(),
                    gt,
                ));
            }
            let row = summary
                .iter()
                .find(|r| {
                    r["cascade"] == cname && r["preproc"] == "gray" && r["minNeighbors"] == mn
                })
                .unwrap();
            for (iou, key) in [(0.5f32, "iou>=0.5"), (0.3, "iou>=0.3")] {
                let e = detect::eval::evaluate(&images, iou);
                let want = &row[key];
                assert_eq!(
                    (e.tp as u64, e.fp as u64, e.fn_ as u64),
                    (
                        want["TP"].as_u64().unwrap(),
                        want["FP"].as_u64().unwrap(),
                        want["FN"].as_u64().unwrap()
                    ),
                    "{cname} mn={mn} {key}"
                );
                assert!((e.precision - want["precision"].as_f64().unwrap()).abs() < 1e-12);
                assert!((e.recall - want["recall"].as_f64().unwrap()).abs() < 1e-12);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 8);
}
