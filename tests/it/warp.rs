//! Backward warping against OpenCV 4.14 (`cv2.remap`, `cv2.warpPerspective`,
//! `cv2.undistort`, `cv2.initUndistortRectifyMap`): the references in `tests/data/warp/`
//! are written by `tests/data/warp_opencv.py` from seeded synthetic images.

use std::path::PathBuf;

use classic_cv::geometry::remap::{Border, Interpolation, Sampling, WarpMap};
use classic_cv::geometry::warp;

fn data(name: &str) -> PathBuf {
    crate::locate::root().join("tests/data/warp").join(name)
}

/// An 8-bit gray PNG as (width, height, pixels).
fn gray(name: &str) -> (usize, usize, Vec<u8>) {
    let img = ::image::open(data(name))
        .unwrap_or_else(|e| panic!("{name}: {e} (regenerate with tests/data/warp_opencv.py)"))
        .to_luma8();
    (img.width() as usize, img.height() as usize, img.into_raw())
}

fn params() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data("params.json")).unwrap()).unwrap()
}

fn mat3(v: &serde_json::Value) -> [[f64; 3]; 3] {
    let mut m = [[0.0; 3]; 3];
    for (r, row) in m.iter_mut().enumerate() {
        for (c, x) in row.iter_mut().enumerate() {
            *x = v[r][c].as_f64().unwrap();
        }
    }
    m
}

/// `(x, y)` pairs of a `(h, w, 2)` float32 .npy map, with its width and height.
fn npy_map(name: &str) -> (usize, usize, Vec<[f32; 2]>) {
    let a = classic_cv::npy::read(data(name)).unwrap();
    let (h, w) = (a.shape[0], a.shape[1]);
    assert_eq!(a.shape[2], 2);
    let v = a.into_f32();
    (w, h, v.chunks_exact(2).map(|c| [c[0], c[1]]).collect())
}

const BORDERS: [(&str, Border); 3] = [
    ("constant", Border::Constant(77.0 / 255.0)),
    ("replicate", Border::Replicate),
    ("reflect101", Border::Reflect101),
];

/// Share of equal pixels, share within one level, largest difference.
fn compare(ours: &[u8], theirs: &[u8]) -> (f64, f64, u8) {
    assert_eq!(ours.len(), theirs.len());
    let n = ours.len() as f64;
    let diffs: Vec<u8> = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| a.abs_diff(*b))
        .collect();
    (
        diffs.iter().filter(|&&d| d == 0).count() as f64 / n,
        diffs.iter().filter(|&&d| d <= 1).count() as f64 / n,
        diffs.iter().copied().max().unwrap_or(0),
    )
}

/// The exact-bilinear mode may differ from OpenCV's quantised one by at most
/// `floor(1 + (Gx + Gy) / 64)` levels, with `Gx`, `Gy` the largest horizontal and vertical
/// neighbour differences of the 2x2 cell read (border values included).
fn check_exact_bound(
    src: &[u8],
    (w, h): (usize, usize),
    coords: &[[f32; 2]],
    border: Border,
    ours: &[u8],
    theirs: &[u8],
) {
    let cval = match border {
        Border::Constant(v) => (v * 255.0).round() as i32,
        _ => 0,
    };
    let idx = |p: i64, len: usize| -> Option<usize> {
        let n = len as i64;
        if (0..n).contains(&p) {
            return Some(p as usize);
        }
        match border {
            Border::Constant(_) => None,
            Border::Replicate => Some(p.clamp(0, n - 1) as usize),
            Border::Reflect101 => {
                let period = 2 * (n - 1).max(1);
                let q = p.rem_euclid(period);
                Some(if q >= n {
                    (period - q) as usize
                } else {
                    q as usize
                })
            }
        }
    };
    let get = |x: i64, y: i64| match (idx(x, w), idx(y, h)) {
        (Some(a), Some(b)) => src[b * w + a] as i32,
        _ => cval,
    };
    let mut checked = 0;
    for (k, &[x, y]) in coords.iter().enumerate() {
        let (x0, y0) = (x.floor() as i64, y.floor() as i64);
        let p = [
            get(x0, y0),
            get(x0 + 1, y0),
            get(x0, y0 + 1),
            get(x0 + 1, y0 + 1),
        ];
        let gx = (p[1] - p[0]).abs().max((p[3] - p[2]).abs()) as f64;
        let gy = (p[2] - p[0]).abs().max((p[3] - p[1]).abs()) as f64;
        let bound = (1.0 + (gx + gy) / 64.0 + 1e-3).floor() as u8;
        let d = ours[k].abs_diff(theirs[k]);
        assert!(
            d <= bound,
            "pixel {k} at ({x}, {y}): |{} - {}| > {bound}",
            ours[k],
            theirs[k]
        );
        checked += (d > 0) as usize;
    }
    assert!(
        checked > 0,
        "the exact mode should differ from OpenCV somewhere"
    );
}

#[test]
fn remap_equals_opencv_bit_for_bit() {
    let (w, h, src) = gray("src.png");
    let (mw, mh, coords) = npy_map("map_xy.npy");
    let map = WarpMap::from_coords(mw, mh, w, h, coords.clone()).unwrap();
    for (name, border) in BORDERS {
        for (interp, tag) in [
            (Interpolation::BilinearOpenCv, "linear"),
            (Interpolation::Nearest, "nearest"),
        ] {
            let s = Sampling {
                interpolation: interp,
                border,
            };
            let ours = map.apply_u8(&src, 1, s).unwrap();
            let (_, _, cv) = gray(&format!("remap_{tag}_{name}.png"));
            let (equal, within1, max) = compare(&ours, &cv);
            assert_eq!(
                equal, 1.0,
                "remap {tag} {name}: within 1 {within1}, max {max}"
            );
        }
        let exact = Sampling {
            interpolation: Interpolation::Bilinear,
            border,
        };
        let ours = map.apply_u8(&src, 1, exact).unwrap();
        let (_, _, cv) = gray(&format!("remap_linear_{name}.png"));
        check_exact_bound(&src, (w, h), &coords, border, &ours, &cv);
    }
}

#[test]
fn float_images_follow_the_same_weights() {
    let (w, h, src) = gray("src.png");
    let (mw, mh, coords) = npy_map("map_xy.npy");
    let map = WarpMap::from_coords(mw, mh, w, h, coords).unwrap();
    let img = classic_cv::Image::from_u8(w, h, &src).unwrap();
    for (name, border) in BORDERS {
        let s = Sampling {
            interpolation: Interpolation::BilinearOpenCv,
            border,
        };
        let ours = map.apply(&img, s).unwrap();
        let (_, _, cv) = gray(&format!("remap_linear_{name}.png"));
        // OpenCV's 8-bit result is the float one rounded (half up, within 1/2048 of a level).
        for (k, &v) in ours.as_slice().iter().enumerate() {
            let d = (v as f64 * 255.0 - cv[k] as f64).abs();
            assert!(
                d <= 0.5 + 1e-3,
                "{name} pixel {k}: {} vs {}",
                v * 255.0,
                cv[k]
            );
        }
    }
}

#[test]
fn warp_perspective_equals_opencv_bit_for_bit() {
    let (w, h, src) = gray("src.png");
    let hm = mat3(&params()["H"]);
    let map = warp::perspective_map(&hm, (w, h), (88, 70)).unwrap();
    for (name, border) in BORDERS {
        for (interp, tag) in [
            (Interpolation::BilinearOpenCv, "linear"),
            (Interpolation::Nearest, "nearest"),
        ] {
            let s = Sampling {
                interpolation: interp,
                border,
            };
            let ours = map.apply_u8(&src, 1, s).unwrap();
            let (_, _, cv) = gray(&format!("persp_{tag}_{name}.png"));
            let (equal, within1, max) = compare(&ours, &cv);
            assert_eq!(
                equal, 1.0,
                "warpPerspective {tag} {name}: within 1 {within1}, max {max}"
            );
        }
        let exact = Sampling {
            interpolation: Interpolation::Bilinear,
            border,
        };
        let ours = map.apply_u8(&src, 1, exact).unwrap();
        let (_, _, cv) = gray(&format!("persp_linear_{name}.png"));
        check_exact_bound(&src, (w, h), map.coords(), border, &ours, &cv);
    }
    // WARP_INVERSE_MAP: the inverse matrix given directly (numpy's inverse, as the script).
    let inv = warp::invert_3x3(&hm).unwrap();
    let map = warp::perspective_map_inverse(&inv, (w, h), (88, 70)).unwrap();
    let ours = map.apply_u8(&src, 1, Sampling::default()).unwrap();
    let (_, _, cv) = gray("persp_inverse_linear.png");
    let (_, within1, max) = compare(&ours, &cv);
    assert!(
        within1 >= 0.995 && max <= 8,
        "inverse map: within 1 {within1}, max {max}"
    );
}

#[test]
fn colour_warps_equal_opencv() {
    let rgb = ::image::open(data("src_rgb.png")).unwrap().to_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let hm = mat3(&params()["H"]);
    let map = warp::perspective_map(&hm, (w, h), (88, 70)).unwrap();
    let ours = map.apply_u8(rgb.as_raw(), 3, Sampling::default()).unwrap();
    let cv = ::image::open(data("persp_linear_rgb.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(ours, cv.into_raw());
}

#[test]
fn bad_homographies_are_errors() {
    let singular = [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 0.0, 1.0]];
    let err = warp::perspective_map(&singular, (10, 10), (10, 10)).unwrap_err();
    assert!(err.to_string().contains("singular"), "{err}");
    let nan = [[1.0, 0.0, f64::NAN], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    assert!(matches!(
        warp::perspective_map(&nan, (10, 10), (10, 10)),
        Err(classic_cv::Error::NonFinite { .. })
    ));
    let away = [[1.0, 0.0, 500.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let err = warp::perspective_map(&away, (10, 10), (10, 10)).unwrap_err();
    assert!(err.to_string().contains("outside"), "{err}");
    assert!(
        warp::perspective_map(
            &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            (10, 10),
            (0, 5)
        )
        .is_err()
    );
    assert!(
        warp::perspective_map(
            &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            (10, 10),
            (1 << 20, 1 << 20)
        )
        .is_err()
    );
}

/// The identity homography copies the image; a shift by whole pixels moves it.
#[test]
fn whole_pixel_shifts_move_pixels() {
    let (w, h, src) = gray("src.png");
    let shift = [[1.0, 0.0, 3.0], [0.0, 1.0, -2.0], [0.0, 0.0, 1.0]];
    let map = warp::perspective_map(&shift, (w, h), (w, h)).unwrap();
    for interpolation in [
        Interpolation::BilinearOpenCv,
        Interpolation::Bilinear,
        Interpolation::Nearest,
    ] {
        let out = map
            .apply_u8(
                &src,
                1,
                Sampling {
                    interpolation,
                    border: Border::Constant(0.0),
                },
            )
            .unwrap();
        for y in 0..h - 2 {
            for x in 3..w {
                assert_eq!(out[y * w + x], src[(y + 2) * w + x - 3]);
            }
        }
        assert!(out[..3].iter().all(|&v| v == 0));
    }
}

/// OpenCV's left-camera calibration of its sample chessboards, scaled to 160x120.
fn scaled_camera() -> classic_cv::geometry::camera::Camera {
    use classic_cv::geometry::camera::{Camera, Distortion, Intrinsics};
    let p = params();
    let dist: Vec<f64> = p["dist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    Camera {
        intrinsics: Intrinsics::from_matrix(&mat3(&p["K"])).unwrap(),
        distortion: Distortion::from_coefficients(&dist).unwrap(),
        image_size: [160, 120],
    }
}

/// Largest |ours - OpenCV's| over the positions of a map subsampled every 4th pixel.
fn max_coord_error(map: &WarpMap, name: &str) -> f64 {
    let (sw, sh, theirs) = npy_map(name);
    let mut worst = 0.0f64;
    for j in 0..sh {
        for i in 0..sw {
            let ours = map.coords()[(4 * j) * map.width() + 4 * i];
            let t = theirs[j * sw + i];
            worst = worst.max((ours[0] - t[0]).abs().max((ours[1] - t[1]).abs()) as f64);
        }
    }
    worst
}

#[test]
fn undistortion_maps_and_images_equal_opencv() {
    let cam = scaled_camera();
    let map = warp::undistort_map(&cam, None).unwrap();
    let err = max_coord_error(&map, "undistort_map_every4.npy");
    assert!(
        err <= 1e-4,
        "initUndistortRectifyMap positions differ by {err}"
    );
    let (w, h, src) = gray("usrc.png");
    let (_, _, cv) = gray("undistort.png");
    let banded = warp::undistort_map_banded(&cam, None).unwrap();
    let ours = banded.apply_u8(&src, 1, Sampling::default()).unwrap();
    let (equal, within1, max) = compare(&ours, &cv);
    assert_eq!(equal, 1.0, "cv2.undistort: within 1 {within1}, max {max}");
    // The one-band map rounds a few positions to the other 1/32 step at most.
    let one = map.apply_u8(&src, 1, Sampling::default()).unwrap();
    let (_, within1, _) = compare(&one, &cv);
    assert!(within1 >= 0.995);
    // The f32 entry point agrees with the 8-bit one to rounding.
    let img = classic_cv::Image::from_u8(w, h, &src).unwrap();
    let f = warp::undistort(&img, &cam, Sampling::default()).unwrap();
    assert!(
        f.to_u8()
            .iter()
            .zip(&ours)
            .all(|(a, b)| a.abs_diff(*b) <= 1)
    );
}

#[test]
fn rectification_maps_equal_opencv() {
    let cam = scaled_camera();
    let p = params();
    let (r, pm) = (mat3(&p["R"]), mat3(&p["P"]));
    let map = warp::rectify_map(&cam, &r, &pm, (150, 110)).unwrap();
    let err = max_coord_error(&map, "rectify_map_every4.npy");
    assert!(err <= 1e-4, "rectification positions differ by {err}");
    let (_, _, src) = gray("usrc.png");
    let ours = map.apply_u8(&src, 1, Sampling::default()).unwrap();
    let (_, _, cv) = gray("rectify_remap16.png");
    let (equal, _, max) = compare(&ours, &cv);
    assert_eq!(equal, 1.0, "remap with 16SC2 rectification maps: max {max}");
}

/// Without distortion, the bird's-eye map is the perspective warp by the composed
/// homography; with distortion, each position is the projection of its plane point.
#[test]
fn birdseye_is_the_plane_homography() {
    use classic_cv::geometry::camera::{Distortion, apply_homography};
    let mut cam = scaled_camera();
    let pose = warp::ground_pose(1.2, 20.0).unwrap();
    let view = warp::PlaneView {
        x_range: [-2.0, 2.0],
        y_range: [1.0, 6.0],
        pixels_per_metre: 20.0,
    };
    assert_eq!(view.size().unwrap(), (80, 100));
    let distorted = warp::birdseye_map(&cam, &pose, &view).unwrap();
    cam.distortion = Distortion::default();
    let ideal = warp::birdseye_map(&cam, &pose, &view).unwrap();
    let hm = warp::birdseye_homography(&cam.intrinsics, &pose, &view).unwrap();
    let (mut moved, mut inside) = (0, 0);
    for v in 0..100 {
        for u in 0..80 {
            let q = apply_homography(&hm, [u as f64, v as f64]).unwrap();
            let ours = ideal.coords()[v * 80 + u];
            // Positions beyond 1.5 times the field of view read outside (NaN).
            if ours[0].is_finite() {
                let tol = 1e-5 * q[0].abs().max(q[1].abs()).max(100.0);
                assert!((ours[0] as f64 - q[0]).abs() < tol && (ours[1] as f64 - q[1]).abs() < tol);
                inside += 1;
            }
            let d = distorted.coords()[v * 80 + u];
            // Inside the photo, where the lens model's iterative inverse converges.
            if (0.0..159.0).contains(&d[0]) && (0.0..119.0).contains(&d[1]) {
                let back = scaled_camera().undistort_pixel([d[0] as f64, d[1] as f64]);
                assert!(
                    (back[0] - q[0]).abs() < 1e-2 && (back[1] - q[1]).abs() < 1e-2,
                    "{back:?} {q:?}"
                );
                moved += ((d[0] as f64 - q[0]).abs() > 0.5) as usize;
            }
        }
    }
    assert!(moved > 0, "the lens should move some positions");
    assert!(inside > 4000, "most of the area is in view: {inside}");
    // The far edge of the area is at the top of the picture and near the horizon: further
    // up the photo than the near edge.
    assert!(ideal.coords()[40][1] < ideal.coords()[99 * 80 + 40][1]);
    // Ground behind the camera is nowhere in view.
    let behind = warp::PlaneView {
        x_range: [-1.0, 1.0],
        y_range: [-5.0, -1.0],
        pixels_per_metre: 10.0,
    };
    let err = warp::birdseye_map(&scaled_camera(), &pose, &behind).unwrap_err();
    assert!(err.to_string().contains("nowhere"), "{err}");
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_classic-cv"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `warp` keeps colour and equals cv2.warpPerspective; bad inputs are one-line errors and
/// never touch the output.
#[test]
fn warp_command_keeps_colour_and_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let h = serde_json::json!({"H": params()["H"].clone(), "matches": 3});
    std::fs::write(d("h.json"), h.to_string()).unwrap();
    let src = data("src_rgb.png");
    let src = src.to_str().unwrap();
    let (code, _, err) = cli(&[
        "warp",
        "--homography",
        &d("h.json"),
        src,
        "-o",
        &d("out.png"),
        "--size",
        "88x70",
    ]);
    assert_eq!(code, 0, "{err}");
    let ours = ::image::open(d("out.png")).unwrap();
    assert!(ours.color().has_color());
    let cv = ::image::open(data("persp_linear_rgb.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(ours.to_rgb8().into_raw(), cv.into_raw());

    for (name, body, needle) in [
        (
            "singular.json",
            r#"{"H": [[1, 2, 3], [2, 4, 6], [0, 0, 1]]}"#,
            "singular",
        ),
        (
            "nan.json",
            r#"{"H": [[1, 0, 0], [0, 1, 0], [0, 0, "x"]]}"#,
            "not a finite number",
        ),
        ("short.json", r#"{"H": [[1, 0, 0], [0, 1, 0]]}"#, "3 rows"),
        (
            "away.json",
            r#"{"H": [[1, 0, 9000], [0, 1, 0], [0, 0, 1]]}"#,
            "outside",
        ),
        ("nokey.json", r#"{"K": 1}"#, "no key"),
    ] {
        std::fs::write(d(name), body).unwrap();
        let (code, _, err) = cli(&["warp", "--homography", &d(name), src, "-o", &d("bad.png")]);
        assert_eq!(code, 1, "{name}: {err}");
        assert!(
            err.contains(needle) && err.trim_end().lines().count() == 1,
            "{name}: {err}"
        );
        assert!(!dir.path().join("bad.png").exists());
    }
    let (code, _, err) = cli(&[
        "warp",
        "--homography",
        &d("h.json"),
        src,
        "-o",
        &d("bad.png"),
        "--size",
        "0x5",
    ]);
    assert_eq!(code, 2, "{err}");
    // Never over the input.
    std::fs::copy(src, d("in.png")).unwrap();
    let before = std::fs::read(d("in.png")).unwrap();
    let (code, _, err) = cli(&[
        "warp",
        "--homography",
        &d("h.json"),
        &d("in.png"),
        "-o",
        &d("in.png"),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("refusing"), "{err}");
    assert_eq!(std::fs::read(d("in.png")).unwrap(), before);
}

/// `undistort` with a classic-cv camera file equals cv2.undistort; a model file of another
/// kind and a photo of the wrong size are clear errors; `birdseye` writes a picture.
#[test]
fn undistort_and_birdseye_commands() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    classic_cv::persist::save(d("camera.json"), &scaled_camera()).unwrap();
    let src = data("usrc.png");
    let src = src.to_str().unwrap();
    let (code, _, err) = cli(&[
        "undistort",
        "--camera",
        &d("camera.json"),
        src,
        "-o",
        &d("u.png"),
    ]);
    assert_eq!(code, 0, "{err}");
    let ours = ::image::open(d("u.png")).unwrap().to_luma8().into_raw();
    assert_eq!(ours, gray("undistort.png").2);
    // Several images: a directory of outputs.
    let (code, _, err) = cli(&[
        "undistort",
        "--camera",
        &d("camera.json"),
        src,
        &d("u.png"),
        "-o",
        &d("many"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(dir.path().join("many/usrc.png").exists() && dir.path().join("many/u.png").exists());

    let centroid = classic_cv::learn::centroid::NearestCentroidParams::default();
    let model = classic_cv::Fit::fit(&centroid, &[vec![0.0], vec![1.0]], &[0, 1]).unwrap();
    classic_cv::persist::save(d("other.json"), &model).unwrap();
    let (code, _, err) = cli(&[
        "undistort",
        "--camera",
        &d("other.json"),
        src,
        "-o",
        &d("x.png"),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("expected `camera`"), "{err}");
    let (code, _, err) = cli(&[
        "undistort",
        "--camera",
        &d("camera.json"),
        data("src.png").to_str().unwrap(),
        "-o",
        &d("x.png"),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("calibrated at 160x120"), "{err}");
    assert!(!dir.path().join("x.png").exists());

    let (code, out, err) = cli(&[
        "--json",
        "birdseye",
        "--camera",
        &d("camera.json"),
        "--plane",
        "height=1.2,pitch=20",
        "--area",
        "-2,1,2,6",
        "--scale",
        "20",
        src,
        "-o",
        &d("b.png"),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(80), Some(100))
    );
    for (plane, needle) in [
        ("height=1.2", "pitch= is missing"),
        ("height=-1,pitch=10", "positive"),
        ("pose=1,2", "six numbers"),
    ] {
        let (code, _, err) = cli(&[
            "birdseye",
            "--camera",
            &d("camera.json"),
            "--plane",
            plane,
            "--area",
            "0,0,1,1",
            src,
            "-o",
            &d("x.png"),
        ]);
        assert_eq!(code, 1, "{plane}");
        assert!(err.contains(needle), "{plane}: {err}");
    }
}

/// OpenCV's calibration of its left01..14 sample photos (640x480).
fn opencv_left_camera() -> classic_cv::geometry::camera::Camera {
    use classic_cv::geometry::camera::{Camera, Distortion, Intrinsics};
    Camera {
        intrinsics: Intrinsics {
            fx: 536.073433176482,
            fy: 536.016341419138,
            cx: 342.3704732649948,
            cy: 235.53687503436012,
            skew: 0.0,
        },
        distortion: Distortion::from_coefficients(&[
            -0.26509008977827,
            -0.04674442089289589,
            0.0018330264080566958,
            -0.0003146928071326722,
            0.25231620083623646,
        ])
        .unwrap(),
        image_size: [640, 480],
    }
}

/// `cv2.getOptimalNewCameraMatrix(K, dist, (640, 480), alpha, new_size)` (OpenCV 4.14) for
/// OpenCV's calibration of its left01..14 sample photos: `[fx, fy, cx, cy]` and
/// `validPixROI`.
#[test]
fn optimal_new_camera_equals_opencv() {
    let camera = opencv_left_camera();
    let cases = [
        (
            0.0,
            (640, 480),
            [
                480.5247299336942,
                503.97575644608224,
                345.9664626538282,
                235.76069353513554,
            ],
            [0, 0, 639, 479],
        ),
        (
            0.5,
            (640, 480),
            [
                474.9925743088852,
                487.00040231467665,
                343.9834803780094,
                236.22808399048085,
            ],
            [2, 8, 632, 463],
        ),
        (
            1.0,
            (640, 480),
            [
                469.46041868407616,
                470.02504818327105,
                342.00049810219065,
                236.69547444582616,
            ],
            [4, 17, 624, 447],
        ),
        (
            0.25,
            (800, 600),
            [
                597.385231682176,
                619.6187046948795,
                431.3536811286684,
                295.1161563025514,
            ],
            [1, 5, 794, 589],
        ),
    ];
    for (alpha, size, want, roi) in cases {
        let o = warp::optimal_new_camera(&camera, alpha, size).unwrap();
        let k = o.intrinsics;
        for (got, want) in [k.fx, k.fy, k.cx, k.cy].into_iter().zip(want) {
            assert!(
                ((got - want) / want).abs() <= 1e-6,
                "alpha {alpha} {size:?}: {got} vs OpenCV's {want}"
            );
        }
        let r = o.valid_roi;
        assert_eq!([r.x, r.y, r.width, r.height], roi, "alpha {alpha} {size:?}");
    }
    for alpha in [-0.1, 1.5, f64::NAN] {
        assert!(warp::optimal_new_camera(&camera, alpha, (640, 480)).is_err());
    }
    assert!(warp::optimal_new_camera(&camera, 0.5, (0, 480)).is_err());
}

/// `undistort --alpha 0.5` equals cv2.undistort with the new camera matrix of
/// getOptimalNewCameraMatrix(alpha 0.5), and reports that matrix and the valid rectangle;
/// an alpha outside [0, 1] is refused before anything is written.
#[test]
fn undistort_alpha_equals_opencv() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    classic_cv::persist::save(d("camera.json"), &scaled_camera()).unwrap();
    let src = data("usrc.png");
    let src = src.to_str().unwrap();
    let (code, out, err) = cli(&[
        "--json",
        "undistort",
        "--camera",
        &d("camera.json"),
        src,
        "-o",
        &d("u.png"),
        "--alpha",
        "0.5",
    ]);
    assert_eq!(code, 0, "{err}");
    let ours = ::image::open(d("u.png")).unwrap().to_luma8().into_raw();
    let (equal, within1, max) = compare(&ours, &gray("undistort_alpha05.png").2);
    assert_eq!(equal, 1.0, "within 1 {within1}, max {max}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["valid_roi"], serde_json::json!([0, 2, 157, 115]));
    // OpenCV's matrix for this camera: fx, fy, cx, cy.
    let k = &v["camera_matrix"];
    for (got, want) in [
        (&k[0][0], 118.77619101),
        (&k[1][1], 121.79733039),
        (&k[0][2], 86.04722103),
        (&k[1][2], 59.07869413),
    ] {
        assert!(
            (got.as_f64().unwrap() - want).abs() < 1e-7,
            "{got} vs {want}"
        );
    }
    let (code, _, err) = cli(&[
        "undistort",
        "--camera",
        &d("camera.json"),
        src,
        "-o",
        &d("x.png"),
        "--alpha",
        "1.5",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("--alpha 1.5"), "{err}");
    assert!(!dir.path().join("x.png").exists());
}

/// `birdseye --plane board=9x6,square=0.025` on OpenCV's left01.jpg with OpenCV's
/// calibration: the board's corners, found again in the bird's-eye picture, lie on the
/// regular grid of their plane positions times the scale to a fraction of a pixel. A photo
/// without the board and an incomplete spec are clear errors.
#[test]
fn birdseye_of_the_board_in_the_photo_is_a_square_grid() {
    use classic_cv::geometry::chessboard::{BoardSize, ChessboardParams, find_chessboard_corners};
    let photo = crate::locate::cache().join("opencv-doc/left01.jpg");
    assert!(
        photo.exists(),
        "{} missing: run `classic-cv fetch-data` (OpenCV's sample data, Debian opencv-doc)",
        photo.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    classic_cv::persist::save(d("camera.json"), &opencv_left_camera()).unwrap();
    let (scale, square) = (1600.0, 0.025);
    let (code, _, err) = cli(&[
        "birdseye",
        "--camera",
        &d("camera.json"),
        "--plane",
        "board=9x6,square=0.025",
        "--scale",
        "1600",
        photo.to_str().unwrap(),
        "-o",
        &d("top.png"),
    ]);
    assert_eq!(code, 0, "{err}");
    let top = classic_cv::Image::load(d("top.png")).unwrap();
    // The default area: two squares around the inner corners, 0.3 x 0.225 m.
    assert_eq!(top.width(), 480);
    assert!((360..=361).contains(&top.height()), "{}", top.height());
    let board = BoardSize { cols: 9, rows: 6 };
    let found = find_chessboard_corners(&top, board, &ChessboardParams::default())
        .unwrap()
        .expect("the board in the bird's-eye picture");
    // Plane point (X, Y) is at picture pixel ((X - X0) s - 0.5, (Y - Y0) s - 0.5).
    let grid: Vec<[f64; 2]> = (0..6)
        .flat_map(|j| (0..9).map(move |i| (i, j)))
        .map(|(i, j)| {
            let at = |k: i32| (k as f64 * square + 2.0 * square) * scale - 0.5;
            [at(i), at(j)]
        })
        .collect();
    let mut used = vec![false; grid.len()];
    let mut sum2 = 0.0;
    let mut worst = 0.0f64;
    for p in &found {
        let (k, dist) = grid
            .iter()
            .map(|g| ((g[0] - p[0]).powi(2) + (g[1] - p[1]).powi(2)).sqrt())
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert!(!used[k], "two corners near grid point {k}");
        used[k] = true;
        sum2 += dist * dist;
        worst = worst.max(dist);
    }
    let rms = (sum2 / found.len() as f64).sqrt();
    assert!(
        rms < 0.3 && worst < 0.6,
        "grid error: rms {rms} px, max {worst} px"
    );

    // A photo of the right size without a board; an incomplete spec.
    ::image::GrayImage::from_pixel(640, 480, ::image::Luma([128u8]))
        .save(d("blank.png"))
        .unwrap();
    let (code, _, err) = cli(&[
        "birdseye",
        "--camera",
        &d("camera.json"),
        "--plane",
        "board=9x6,square=0.025",
        &d("blank.png"),
        "-o",
        &d("x.png"),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("no 9x6 chessboard found"), "{err}");
    let (code, _, err) = cli(&[
        "birdseye",
        "--camera",
        &d("camera.json"),
        "--plane",
        "board=9x6",
        photo.to_str().unwrap(),
        "-o",
        &d("x.png"),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("square= is missing"), "{err}");
    assert!(!dir.path().join("x.png").exists());
}
