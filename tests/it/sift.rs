//! Dense SIFT against VLFeat's own output (`../shared/anchors/vlfeat/out`), plus the
//! stage's conformance and batch behaviour.

use std::path::PathBuf;

use classic_cv::features::sift::{DenseSift, Descriptors, Window};
use classic_cv::pipeline::{Fit, Transform, transform_all};
use classic_cv::{Error, Image};

/// VLFeat's anchor outputs.
fn anchors() -> PathBuf {
    crate::locate::anchors("vlfeat/out")
}

fn read_f32(path: PathBuf) -> Vec<f32> {
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn read_f64(path: PathBuf) -> Vec<f64> {
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn astronaut() -> Image {
    Image::load_raw_f32(anchors().join("astronaut_gray_512x512.f32"), 512, 512).unwrap()
}

/// Compares with VLFeat's descriptors for step 4, bin 8: identical keypoints, mass within
/// float rounding, and max |diff| <= 1e-4 over descriptors of mass >= 0.005.
fn check_against_vlfeat(window: Window, name: &str) -> f32 {
    let d = DenseSift {
        step: 4,
        bin_size: 8,
        window,
        ..DenseSift::default()
    }
    .transform(&astronaut())
    .unwrap();
    let reference = read_f32(anchors().join(format!("astronaut_dsift_s4_b8_{name}.f32")));
    let frames = read_f64(anchors().join(format!("astronaut_dsift_s4_b8_{name}.frames.f64")));
    assert_eq!(d.len(), 14884);
    assert_eq!(reference.len(), d.len() * 128);
    let mut worst = 0f32;
    let mut compared = 0;
    for (i, k) in d.keypoints.iter().enumerate() {
        let (x, y, mass) = (frames[3 * i], frames[3 * i + 1], frames[3 * i + 2]);
        assert_eq!((k.x as f64, k.y as f64), (x, y), "keypoint {i}");
        assert_eq!(k.scale, 8.0);
        assert!(
            (k.norm as f64 - mass).abs() <= 1e-4 * mass + 1e-7,
            "mass of {i}: {} vs {mass}",
            k.norm
        );
        if mass >= 0.005 {
            compared += 1;
            let r = &reference[i * 128..(i + 1) * 128];
            for (a, b) in d.descriptors.row(i).iter().zip(r) {
                worst = worst.max((a - b).abs());
            }
        }
    }
    assert!(compared > 10_000, "{compared} descriptors of mass >= 0.005");
    assert!(worst <= 1e-4, "{name}: max |diff| {worst}");
    eprintln!("{name}: max |diff| {worst} over {compared} descriptors");
    worst
}

#[test]
fn flat_window_matches_vlfeat_on_astronaut() {
    check_against_vlfeat(Window::Flat, "flat");
}

#[test]
fn gaussian_window_matches_vlfeat_on_astronaut() {
    check_against_vlfeat(Window::Gaussian, "gauss");
}

#[test]
fn descriptors_are_unit_norm_and_clamped() {
    let d = DenseSift::default().transform(&astronaut()).unwrap();
    for (row, k) in d.descriptors.rows().into_iter().zip(&d.keypoints) {
        let n2 = row.dot(&row);
        if k.norm > 1e-3 {
            assert!((n2 - 1.0).abs() < 1e-3, "norm² {n2}");
            // After the clamp at 0.2 and renormalisation, no element exceeds 0.2 / (norm
            // of the clamped vector), which is at most 1.
            assert!(row.iter().all(|&v| (0.0..=1.0 + 1e-5).contains(&v)));
        }
    }
    assert_eq!((d.width, d.height), (512, 512));
    assert_eq!(d.frames().dim(), (d.len(), 4));
    assert_eq!(d.frames()[[1, 0]], 16.0);
}

#[test]
fn batch_equals_single_and_ignores_thread_count() {
    let img = astronaut();
    let small: Vec<Image> = (0..4)
        .map(|k| {
            let (w, h) = (97 + 13 * k, 61 + 7 * k);
            Image::from_fn(w, h, |x, y| img.get(x + 40 * k, y + 100))
        })
        .collect();
    let p = DenseSift {
        step: 3,
        bin_size: 6,
        window: Window::Gaussian,
        ..DenseSift::default()
    };
    let single: Vec<Descriptors> = small.iter().map(|i| p.transform(i).unwrap()).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let batch = pool.install(|| transform_all(&p, &small)).unwrap();
    assert_eq!(single, batch);
}

#[test]
fn batch_reports_the_first_bad_image() {
    let good = Image::from_fn(40, 40, |x, y| ((x + y) % 5) as f32);
    let tiny = Image::from_fn(10, 40, |_, _| 0.0);
    let err = transform_all(&DenseSift::default(), &[good, tiny]).unwrap_err();
    assert!(matches!(
        err,
        Error::ImageTooSmall {
            min_width: 25,
            min_height: 25,
            ..
        }
    ));
}

#[test]
fn fit_returns_the_params_and_checks_inputs() {
    let img = Image::from_fn(40, 40, |x, y| ((x * y) % 5) as f32);
    let p = DenseSift::phow();
    assert_eq!(p.fit(std::slice::from_ref(&img), &[0]).unwrap(), p);
    let bad = DenseSift { step: 0, ..p };
    assert!(matches!(
        bad.fit(&[img], &[0]),
        Err(Error::InvalidParam { name: "step", .. })
    ));
}

#[test]
fn cli_writes_one_npy_per_image_equal_to_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let img = astronaut();
    let crops = [(0, 0, 61, 47), (100, 200, 50, 66)];
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    let mut images = Vec::new();
    for (k, &(x0, y0, w, h)) in crops.iter().enumerate() {
        let crop = Image::from_fn(w, h, |x, y| img.get(x0 + x, y0 + y));
        crop.save_png(inputs.join(format!("c{k}.png"))).unwrap();
        // The PNG is 8-bit: compare against the image as read back.
        images.push(Image::load(inputs.join(format!("c{k}.png"))).unwrap());
    }
    let (out, frames) = (dir.path().join("out"), dir.path().join("frames"));
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_classic-cv"))
        .args(["--threads", "2", "dsift", "--step", "3", "--bin-size", "5"])
        .args(["--window", "gaussian", "--root-sift", "-o"])
        .arg(&out)
        .arg("--keypoints-out")
        .arg(&frames)
        .arg(&inputs)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let p = DenseSift {
        step: 3,
        bin_size: 5,
        window: Window::Gaussian,
        root_sift: true,
        ..DenseSift::default()
    };
    for (k, image) in images.iter().enumerate() {
        let expected = p.transform(image).unwrap();
        let name = format!("c{k}.npy");
        let d = classic_cv::npy::read(out.join(&name)).unwrap();
        let d = d.into_array2(&out.join(&name)).unwrap();
        assert_eq!(d, expected.descriptors);
        let f = classic_cv::npy::read(frames.join(&name)).unwrap();
        assert_eq!(
            f.into_array2(&frames.join(&name)).unwrap(),
            expected.frames()
        );
    }
    // An image too small for one frame fails with a message naming the minimum size.
    let tiny = dir.path().join("tiny.png");
    Image::from_fn(12, 30, |x, _| x as f32 / 12.0)
        .save_png(&tiny)
        .unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_classic-cv"))
        .args(["dsift", "-o"])
        .arg(dir.path().join("t.npy"))
        .arg(&tiny)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&run.stderr);
    assert!(msg.contains("at least 25x25"), "{msg}");
}
