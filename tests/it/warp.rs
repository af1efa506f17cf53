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
