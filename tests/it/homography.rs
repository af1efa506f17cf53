//! Homographies from two images: SIFT keypoints, ratio-test matching and RANSAC, against
//! OpenCV's ground truth for graf1 -> graf3 and against photos warped by known homographies;
//! the `homography` command.

use std::path::{Path, PathBuf};
use std::process::Command;

use classic_cv::Image;
use classic_cv::features::keypoints::SiftDetectorParams;
use classic_cv::geometry::camera::{Mat3, apply_homography, mat3_inverse};
use classic_cv::geometry::homography::{HomographyFit, RansacParams, find_homography};
use classic_cv::geometry::matching::{MatchParams, match_descriptors};

use crate::locate::cache;

fn opencv_doc(name: &str) -> PathBuf {
    let p = cache().join("opencv-doc").join(name);
    assert!(
        p.exists(),
        "{} is missing: run `classic-cv fetch-data` first",
        p.display()
    );
    p
}

/// The 3x3 matrix of an OpenCV FileStorage XML file with one `opencv-matrix` of 9 doubles.
fn read_opencv_matrix(path: &Path) -> Mat3 {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let data = doc
        .descendants()
        .find(|n| n.has_tag_name("data"))
        .expect("a <data> element");
    let v: Vec<f64> = data
        .text()
        .unwrap()
        .split_whitespace()
        .map(|t| t.parse().unwrap())
        .collect();
    assert_eq!(v.len(), 9, "{}", path.display());
    [[v[0], v[1], v[2]], [v[3], v[4], v[5]], [v[6], v[7], v[8]]]
}

fn map(h: &Mat3, p: [f64; 2]) -> [f64; 2] {
    apply_homography(h, p).unwrap()
}

/// Mean distance between the points of a `step`-pixel grid of a `w x h` image mapped by `a`
/// and by `b` (the anchor's measure), over the grid points `keep` accepts.
fn grid_error(
    a: &Mat3,
    b: &Mat3,
    w: usize,
    h: usize,
    step: usize,
    keep: impl Fn([f64; 2]) -> bool,
) -> f64 {
    let mut sum = 0.0;
    let mut n = 0;
    for y in (0..h).step_by(step) {
        for x in (0..w).step_by(step) {
            let p = [x as f64, y as f64];
            if keep(p) {
                let (u, v) = (map(a, p), map(b, p));
                sum += (u[0] - v[0]).hypot(u[1] - v[1]);
                n += 1;
            }
        }
    }
    assert!(n > 0);
    sum / n as f64
}

/// The whole pipeline with the CLI's defaults: keypoints, matches, RANSAC.
fn homography_of(a: &Image, b: &Image) -> (usize, HomographyFit) {
    let p = SiftDetectorParams::default();
    let (fa, fb) = (p.detect(a).unwrap(), p.detect(b).unwrap());
    let m = match_descriptors(
        fa.descriptors.view(),
        fb.descriptors.view(),
        &MatchParams::default(),
    )
    .unwrap();
    let pt = |k: &classic_cv::features::keypoints::SiftKeypoint| [k.x as f64, k.y as f64];
    let src: Vec<[f64; 2]> = m.iter().map(|m| pt(&fa.keypoints[m.query])).collect();
    let dst: Vec<[f64; 2]> = m.iter().map(|m| pt(&fb.keypoints[m.train])).collect();
    (
        m.len(),
        find_homography(
            &src,
            &dst,
            &RansacParams {
                seed: 42,
                ..RansacParams::default()
            },
        )
        .unwrap(),
    )
}

#[test]
fn graf1_to_graf3_is_as_accurate_as_opencv_and_thread_independent() {
    let a = Image::load(opencv_doc("graf1.png")).unwrap();
    let b = Image::load(opencv_doc("graf3.png")).unwrap();
    let truth = read_opencv_matrix(&opencv_doc("H1to3p.xml"));
    assert!((truth[0][2] - 225.67123).abs() < 1e-9);
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| homography_of(&a, &b))
    };
    let (matches, fit) = run(1);
    let err = grid_error(&fit.h, &truth, a.width(), a.height(), 20, |_| true);
    // OpenCV 4.14 (SIFT, ratio 0.8, RANSAC 3 px): 686 matches, 453 inliers, 2.03 px.
    assert!(
        err <= 2.0,
        "mean grid error {err:.3} px ({matches} matches, {} inliers)",
        fit.inlier_count()
    );
    assert!(
        fit.inlier_count() >= 300 && fit.rms < 1.5,
        "{matches} matches, {} inliers",
        fit.inlier_count()
    );
    let (matches3, fit3) = run(3);
    assert_eq!((matches, &fit), (matches3, &fit3));
}

/// Backward bilinear warp of `img` by `h` (output pixel `q` reads `img` at `h⁻¹ q`); pixels
/// that fall outside stay 0.
fn warp(img: &Image, h_inv: &Mat3, w: usize, hgt: usize) -> Image {
    Image::from_fn(w, hgt, |x, y| {
        let p = map(h_inv, [x as f64, y as f64]);
        let (fx, fy) = (p[0].floor(), p[1].floor());
        if !(fx >= 0.0
            && fy >= 0.0
            && fx + 1.0 < img.width() as f64
            && fy + 1.0 < img.height() as f64)
        {
            return 0.0;
        }
        let (ix, iy) = (fx as usize, fy as usize);
        let (ax, ay) = ((p[0] - fx) as f32, (p[1] - fy) as f32);
        let top = img.get(ix, iy) * (1.0 - ax) + img.get(ix + 1, iy) * ax;
        let bottom = img.get(ix, iy + 1) * (1.0 - ax) + img.get(ix + 1, iy + 1) * ax;
        top * (1.0 - ay) + bottom * ay
    })
}

#[test]
fn photos_warped_by_known_homographies_are_recovered() {
    let cases: [(&str, Mat3); 3] = [
        (
            "astronaut.png",
            [[0.85, 0.12, 30.0], [-0.08, 0.9, 40.0], [2e-4, -1e-4, 1.0]],
        ),
        (
            "brick.png",
            [[1.1, -0.2, 20.0], [0.15, 0.95, -10.0], [-1.5e-4, 3e-4, 1.0]],
        ),
        (
            "camera.png",
            [[0.7, 0.3, 60.0], [-0.25, 0.75, 120.0], [4e-4, 2e-4, 1.0]],
        ),
    ];
    for (name, h) in cases {
        let path = cache().join("skimage").join(name);
        assert!(
            path.exists(),
            "{} is missing: run `classic-cv fetch-data` first",
            path.display()
        );
        let img = Image::load(&path).unwrap();
        let warped = warp(&img, &mat3_inverse(&h).unwrap(), img.width(), img.height());
        let (matches, fit) = homography_of(&img, &warped);
        // Grid points of the source whose image lands inside the warped picture.
        let (w, hh) = (img.width() as f64, img.height() as f64);
        let inside = |p: [f64; 2]| {
            let q = map(&h, p);
            q[0] >= 0.0 && q[1] >= 0.0 && q[0] <= w - 1.0 && q[1] <= hh - 1.0
        };
        let err = grid_error(&fit.h, &h, img.width(), img.height(), 20, inside);
        assert!(
            err < 1.0,
            "{name}: mean grid error {err:.3} px ({matches} matches, {} inliers)",
            fit.inlier_count()
        );
    }
}

fn classic_cv(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_classic-cv"))
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn cli_prints_and_writes_the_homography_and_draws_the_matches() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (opencv_doc("graf1.png"), opencv_doc("graf3.png"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let json_path = dir.path().join("H.json");
    let draw_path = dir.path().join("matches.png");
    let (code, out, err) = classic_cv(&[
        "--json",
        "homography",
        a,
        b,
        "-o",
        json_path.to_str().unwrap(),
        "--draw",
        draw_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let printed: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(printed, written);
    let h: Mat3 = serde_json::from_value(written["H"].clone()).unwrap();
    let truth = read_opencv_matrix(&opencv_doc("H1to3p.xml"));
    assert!(
        grid_error(&h, &truth, 800, 640, 20, |_| true) <= 2.0,
        "{h:?}"
    );
    let (m, i) = (
        written["matches"].as_u64().unwrap(),
        written["inliers"].as_u64().unwrap(),
    );
    assert!(m >= i && i >= 300, "{written}");
    let picture = Image::load(&draw_path).unwrap();
    assert_eq!((picture.width(), picture.height()), (1600, 640));

    // A featureless image: too few matches, one clear line.
    let flat = dir.path().join("flat.png");
    Image::from_fn(200, 150, |_, _| 0.5)
        .save_png(&flat)
        .unwrap();
    let (code, _, err) = classic_cv(&["homography", a, flat.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("0 matches") && err.contains("at least 4"),
        "{err}"
    );
    // Never writes over an input; bad flags are named.
    let (code, _, err) = classic_cv(&["homography", a, b, "-o", a]);
    assert_eq!(code, 2);
    assert!(err.contains("is also an input"), "{err}");
    let (code, _, err) = classic_cv(&["homography", a, b, "--ratio", "1.5"]);
    assert_eq!(code, 2);
    assert!(err.contains("ratio"), "{err}");
}
