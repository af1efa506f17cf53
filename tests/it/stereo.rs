//! Stereo matching on synthetic pairs of known disparity, bad input, thread independence,
//! and the `stereo` / `eval-stereo` commands.

use crate::cli::classic_cv;

use classic_cv::Image;
use classic_cv::stereo::cost::MatchCost;
use classic_cv::stereo::depth;
use classic_cv::stereo::disparity::DisparityMap;
use classic_cv::stereo::{StereoMethod, StereoParams};

/// A random 8-bit texture, smoothed a little so that windows correlate.
fn texture(w: usize, h: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    let raw: Vec<f32> = (0..w * h)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let a = raw[i];
            let b = raw[y * w + (x + 1).min(w - 1)];
            let c = raw[(y + 1).min(h - 1) * w + x];
            (a + b + c) / 3.0
        })
        .collect()
}

/// A pair whose true disparity is `shift` everywhere: `L(x) = T(x)`, `R(x) = T(x + shift)`.
fn shifted_pair(w: usize, h: usize, shift: usize) -> (Image, Image) {
    let tw = w + shift;
    let t = texture(tw, h, 7);
    let q = |v: f32| (v * 255.0).round() / 255.0;
    let left = Image::from_fn(w, h, |x, y| q(t[y * tw + x]));
    let right = Image::from_fn(w, h, |x, y| q(t[y * tw + x + shift]));
    (left, right)
}

fn integer_params(method: StereoMethod, cost: MatchCost) -> StereoParams {
    StereoParams {
        method,
        cost,
        max_disparity: 16,
        window: if method == StereoMethod::Bm { 7 } else { 3 },
        p1: 20,
        p2: 120,
        subpixel: false,
        ..StereoParams::default()
    }
}

#[test]
fn a_shifted_texture_is_recovered_exactly_by_every_cost_and_method() {
    let (w, h, shift) = (96, 40, 9);
    let (left, right) = shifted_pair(w, h, shift);
    for method in [StereoMethod::Bm, StereoMethod::Sgm] {
        for cost in [
            MatchCost::Ncc,
            MatchCost::Zncc,
            MatchCost::Sad,
            MatchCost::Ssd,
            MatchCost::Census,
        ] {
            let map = integer_params(method, cost).compute(&left, &right).unwrap();
            let (mut valid, mut total) = (0, 0);
            for y in 4..h - 4 {
                for x in shift + 6..w - 4 {
                    total += 1;
                    let d = map.get(x, y);
                    if !d.is_nan() {
                        valid += 1;
                        assert_eq!(d, shift as f32, "{method:?} {cost:?} at ({x}, {y})");
                    }
                }
            }
            assert!(
                valid * 10 >= total * 9,
                "{method:?} {cost:?}: only {valid} of {total} interior pixels valid"
            );
        }
    }
}

#[test]
fn a_slanted_plane_is_recovered_within_a_tenth_of_a_pixel() {
    // d(x) = a + b x at the left pixel; R(xr) = L(xr + d) with xl = (xr + a) / (1 - b).
    let (w, h, a, b) = (160, 48, 6.0f64, 0.04f64);
    let f = |u: f64, v: f64| {
        0.5 + 0.18 * (u * 0.71 + v * 0.23).sin()
            + 0.12 * (u * 0.37 - v * 0.61 + 1.0).sin()
            + 0.1 * (u * 1.13 + v * 0.47 + 2.0).sin()
    };
    let left = Image::from_fn(w, h, |x, y| f(x as f64, y as f64) as f32);
    let right = Image::from_fn(w, h, |x, y| f((x as f64 + a) / (1.0 - b), y as f64) as f32);
    let params = StereoParams {
        max_disparity: 24,
        ..StereoParams::block_matching(MatchCost::Zncc, 9, 24)
    };
    let map = params.compute(&left, &right).unwrap();
    let mut errors = Vec::new();
    for y in 5..h - 5 {
        for x in 20..w - 5 {
            let d = map.get(x, y);
            if !d.is_nan() {
                errors.push((f64::from(d) - (a + b * x as f64)).abs());
            }
        }
    }
    let n = errors.len();
    assert!(n > (h - 10) * (w - 25) * 9 / 10, "only {n} valid");
    let mean = errors.iter().sum::<f64>() / n as f64;
    errors.sort_by(f64::total_cmp);
    assert!(mean < 0.1, "mean error {mean}");
    assert!(
        errors[n * 9 / 10] < 0.2,
        "90th percentile {}",
        errors[n * 9 / 10]
    );
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (left, right) = shifted_pair(120, 70, 5);
    for (method, paths) in [
        (StereoMethod::Sgm, 8),
        (StereoMethod::Sgm, 4),
        (StereoMethod::Sgm, 5),
        (StereoMethod::Bm, 8),
    ] {
        let p = StereoParams {
            method,
            paths,
            max_disparity: 20,
            ..StereoParams::default()
        };
        let run = |n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
                .install(|| p.compute(&left, &right).unwrap())
        };
        let (one, three) = (run(1), run(3));
        assert_eq!(
            one.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            three.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{method:?} {paths}"
        );
    }
}

#[test]
fn bad_input_gives_errors_or_invalid_marks() {
    let (left, right) = shifted_pair(64, 32, 4);
    let p = StereoParams {
        max_disparity: 16,
        ..StereoParams::default()
    };
    let small = Image::from_fn(60, 32, |_, _| 0.5);
    assert!(p.compute(&left, &small).is_err());
    let wide = StereoParams {
        max_disparity: 65,
        ..p.clone()
    };
    assert!(wide.compute(&left, &right).is_err());
    for bad in [
        StereoParams {
            window: 4,
            ..p.clone()
        },
        StereoParams {
            p1: 900,
            p2: 800,
            ..p.clone()
        },
        StereoParams {
            paths: 3,
            ..p.clone()
        },
        StereoParams {
            uniqueness: f32::NAN,
            ..p.clone()
        },
        StereoParams {
            census_window: (11, 9),
            ..p.clone()
        },
    ] {
        assert!(bad.compute(&left, &right).is_err(), "{bad:?}");
    }
    let mut with_nan = left.clone();
    with_nan.as_mut_slice()[5] = f32::NAN;
    assert!(p.compute(&with_nan, &right).is_err());
    // No texture: every pixel invalid, for both methods and every cost.
    let flat = Image::from_fn(64, 32, |_, _| 0.4);
    for method in [StereoMethod::Sgm, StereoMethod::Bm] {
        for cost in [
            MatchCost::Ncc,
            MatchCost::Zncc,
            MatchCost::Sad,
            MatchCost::Census,
        ] {
            let q = StereoParams {
                method,
                cost,
                ..p.clone()
            };
            let map = q.compute(&flat, &flat).unwrap();
            assert!(map.data.iter().all(|v| v.is_nan()), "{method:?} {cost:?}");
        }
    }
    // Depth: bad rig numbers are errors, invalid disparities give NaN depth.
    let m = DisparityMap::new(2, 1, vec![f32::NAN, 2.0]).unwrap();
    assert!(depth::depth_map(&m, f64::NAN, 100.0).is_err());
    assert!(depth::depth_map(&m, 0.1, -1.0).is_err());
    let z = depth::depth_map(&m, 0.1, 100.0).unwrap();
    assert!(z[0].is_nan() && (z[1] - 5.0).abs() < 1e-6);
    assert!(DisparityMap::new(2, 1, vec![f32::INFINITY, 1.0]).is_err());
}

#[test]
fn cli_stereo_then_eval_stereo() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let (left, right) = shifted_pair(96, 48, 6);
    left.save_png(p("l.png")).unwrap();
    right.save_png(p("r.png")).unwrap();
    Image::from_fn(90, 48, |_, _| 0.5)
        .save_png(p("small.png"))
        .unwrap();
    let truth = classic_cv::npy::NpyArray {
        shape: vec![48, 96],
        data: classic_cv::npy::NpyData::F32(vec![6.0; 96 * 48]),
    };
    classic_cv::npy::write(p("gt.npy"), &truth).unwrap();
    let (code, _, err) = classic_cv(&[
        "stereo",
        &p("l.png"),
        &p("r.png"),
        "--max-disparity",
        "16",
        "--window",
        "3",
        "--p1",
        "20",
        "--p2",
        "120",
        "-o",
        &p("d.npy"),
        "--png",
        &p("d.png"),
        "--ply",
        &p("c.ply"),
        "--baseline",
        "0.1",
        "--focal",
        "100",
    ]);
    assert_eq!(code, 0, "{err}");
    let png = Image::load(p("d.png")).unwrap();
    assert!(png.width() > 96 && png.height() >= 48);
    let ply = std::fs::read(p("c.ply")).unwrap();
    assert!(ply.starts_with(b"ply\nformat binary_little_endian 1.0\n"));
    let (code, out, err) = classic_cv(&[
        "eval-stereo",
        &p("d.npy"),
        "--truth",
        &p("gt.npy"),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in ["bad1", "bad2", "bad4", "bad2_valid", "density", "mae"] {
        assert!(v[key].is_number(), "{key} missing in {out}");
    }
    assert!(v["density"].as_f64().unwrap() > 0.7, "{out}");
    assert!(v["bad2_valid"].as_f64().unwrap() < 0.02, "{out}");
    // Bad input: one clear line, exit 1 (2 for the command line), no output written.
    for (i, args) in [
        vec!["stereo", &p("l.png"), &p("small.png"), "-o", &p("e.npy")],
        vec![
            "stereo",
            &p("l.png"),
            &p("r.png"),
            "--max-disparity",
            "200",
            "-o",
            &p("e.npy"),
        ],
        vec!["stereo", &p("l.png"), &p("r.png"), "-o", &p("l.png")],
        vec![
            "stereo",
            &p("l.png"),
            &p("r.png"),
            "--ply",
            &p("c2.ply"),
            "-o",
            &p("e.npy"),
        ],
    ]
    .into_iter()
    .enumerate()
    {
        let (code, _, err) = classic_cv(&args);
        assert_eq!(code, if i < 2 { 1 } else { 2 }, "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!dir.path().join("e.npy").exists());
    }
}
