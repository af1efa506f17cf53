//! Zhang calibration: hand-built cameras recovered exactly, OpenCV's calibration of its own
//! sample chessboards (from OpenCV's corners in the shared anchors) matched, and bad input
//! refused with clear errors.

use classic_cv::geometry::calibrate::{
    Calibration, CalibrationInit, CalibrationParams, board_points,
};
use classic_cv::geometry::calibrate_init::zhang_intrinsics;
use classic_cv::geometry::camera::{Camera, Distortion, Intrinsics, Pose};

use crate::cli::classic_cv;
use crate::locate::anchors;

/// Members of a `.npz` (a zip archive) by name: stored or deflated members, read through
/// the central directory.
pub(crate) fn read_npz(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let bytes = std::fs::read(path).unwrap();
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]) as usize;
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let eocd = (0..=bytes.len() - 22)
        .rev()
        .find(|&i| u32_at(i) == 0x0605_4b50)
        .expect("npz: no end-of-central-directory record");
    let (count, mut at) = (u16_at(eocd + 10), u32_at(eocd + 16));
    let mut out = Vec::new();
    for _ in 0..count {
        assert_eq!(u32_at(at), 0x0201_4b50, "npz: bad central directory entry");
        let method = u16_at(at + 10);
        let csize = u32_at(at + 20);
        let (name_len, extra_len, comment_len) =
            (u16_at(at + 28), u16_at(at + 30), u16_at(at + 32));
        let local = u32_at(at + 42);
        let name = String::from_utf8(bytes[at + 46..at + 46 + name_len].to_vec()).unwrap();
        assert_eq!(u32_at(local), 0x0403_4b50, "npz: bad local header");
        let data_at = local + 30 + u16_at(local + 26) + u16_at(local + 28);
        let raw = &bytes[data_at..data_at + csize];
        let data = match method {
            0 => raw.to_vec(),
            8 => {
                let mut v = Vec::new();
                flate2::read::DeflateDecoder::new(raw)
                    .read_to_end(&mut v)
                    .unwrap();
                v
            }
            m => panic!("npz member {name}: compression method {m} not supported"),
        };
        out.push((name, data));
        at += 46 + name_len + extra_len + comment_len;
    }
    out
}

/// OpenCV's sub-pixel corners of the 13 left views (left01..14 without 10), in name order.
fn opencv_left_corners() -> Vec<Vec<[f64; 2]>> {
    let path = anchors("geometry/corners_opencv.npz");
    let mut members = read_npz(&path);
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let views: Vec<Vec<[f64; 2]>> = members
        .into_iter()
        .filter(|(name, _)| name.starts_with("left"))
        .map(|(name, data)| {
            let a = classic_cv::npy::parse(std::path::Path::new(&name), &data).unwrap();
            assert_eq!(a.shape, vec![54, 2], "{name}");
            let v = a.into_f32();
            v.chunks(2).map(|c| [c[0] as f64, c[1] as f64]).collect()
        })
        .collect();
    assert_eq!(views.len(), 13, "13 left views in the anchor");
    views
}

/// The board of the anchor: 9x6 inner corners, 25 mm squares (as float32, as OpenCV's
/// script builds it).
fn anchor_board() -> Vec<[f64; 3]> {
    board_points(9, 6, 0.025f32 as f64)
}

fn calibrate_anchor(params: &CalibrationParams) -> Calibration {
    let views = opencv_left_corners();
    let object = vec![anchor_board(); views.len()];
    params.calibrate(&object, &views, [640, 480]).unwrap()
}

fn assert_within(what: &str, ours: f64, theirs: f64, rel: f64) {
    assert!(
        (ours - theirs).abs() <= rel * theirs.abs(),
        "{what}: ours {ours}, OpenCV {theirs} (relative tolerance {rel})"
    );
}

#[test]
fn calibrating_opencvs_corners_matches_calibrate_camera() {
    // cv2.calibrateCamera on the same corners, no flags (OpenCV 4.14).
    let fit = calibrate_anchor(&CalibrationParams::default());
    let k = &fit.camera.intrinsics;
    assert!(
        fit.rms <= 0.408_694_638_132_744 * 1.01,
        "rms {} against OpenCV's 0.40869",
        fit.rms
    );
    for (what, ours, theirs) in [
        ("fx", k.fx, 536.073_433_252_463_4),
        ("fy", k.fy, 536.016_341_502_655_2),
        ("cx", k.cx, 342.370_472_965_28),
        ("cy", k.cy, 235.536_875_256_809_2),
    ] {
        assert_within(what, ours, theirs, 1e-3);
    }
    let d = fit.camera.distortion.coefficients();
    let opencv = [
        -0.265_090_091_152_595_4,
        -0.046_744_414_906_763_36,
        0.001_833_026_428_097_891,
        -0.000_314_692_865_362_997_8,
        0.252_316_200_285_893_36,
    ];
    for (i, (a, b)) in d.iter().zip(opencv).enumerate() {
        assert!((a - b).abs() < 1e-3, "dist[{i}]: ours {a}, OpenCV {b}");
    }
    assert_eq!(fit.per_view_rms.len(), 13);
    let total: f64 = fit.per_view_rms.iter().map(|r| r * r * 54.0).sum();
    assert!(((total / (13.0 * 54.0)).sqrt() - fit.rms).abs() < 1e-12);
}

#[test]
fn zhangs_start_reaches_the_same_minimum() {
    let a = calibrate_anchor(&CalibrationParams::default());
    let b = calibrate_anchor(&CalibrationParams {
        init: CalibrationInit::Zhang,
        ..Default::default()
    });
    assert!((a.rms - b.rms).abs() < 1e-6, "{} vs {}", a.rms, b.rms);
    assert_within("fx", b.camera.intrinsics.fx, a.camera.intrinsics.fx, 1e-5);
    assert_within("cy", b.camera.intrinsics.cy, a.camera.intrinsics.cy, 1e-5);
}

#[test]
fn options_match_opencvs_flags() {
    // CALIB_FIX_PRINCIPAL_POINT | CALIB_ZERO_TANGENT_DIST | CALIB_FIX_K3.
    let fit = calibrate_anchor(&CalibrationParams {
        fix_principal_point: true,
        zero_tangent: true,
        fix_k3: true,
        ..Default::default()
    });
    let k = &fit.camera.intrinsics;
    assert_eq!((k.cx, k.cy), (319.5, 239.5));
    let d = fit.camera.distortion;
    assert_eq!((d.p1, d.p2, d.k3), (0.0, 0.0, 0.0));
    assert_within("rms", fit.rms, 0.496_756_703_555_120_6, 1e-3);
    assert_within("fx", k.fx, 539.391_122_606_209_3, 1e-3);
    assert_within("fy", k.fy, 539.921_375_341_169_4, 1e-3);
    assert!(
        (d.k1 + 0.294_243_969_681_672_55).abs() < 1e-3,
        "k1 {}",
        d.k1
    );
    assert!(
        (d.k2 - 0.118_546_426_804_787_44).abs() < 1e-3,
        "k2 {}",
        d.k2
    );

    // CALIB_FIX_ASPECT_RATIO with fx/fy = 1 in the camera matrix passed in.
    let fit = calibrate_anchor(&CalibrationParams {
        fix_aspect_ratio: Some(1.0),
        ..Default::default()
    });
    let k = &fit.camera.intrinsics;
    assert_eq!(k.fx, k.fy);
    assert_within("rms", fit.rms, 0.408_707_988_667_136_8, 1e-3);
    assert_within("f", k.fx, 536.107_912_031_666_3, 1e-3);
    assert_within("cx", k.cx, 342.374_105_770_991_3, 1e-3);
    assert_within("cy", k.cy, 235.594_774_817_501_67, 1e-3);
}

/// Noise-free views of a 9x6 board from `n` poses spread over tilts and positions.
/// Board points, observed pixels and true poses of the views of a synthetic calibration.
type Views = (Vec<Vec<[f64; 3]>>, Vec<Vec<[f64; 2]>>, Vec<Pose>);

fn synthetic(camera: &Camera, n: usize) -> Views {
    let board = board_points(9, 6, 0.03);
    let poses: Vec<Pose> = (0..n)
        .map(|i| {
            let a = i as f64 * 2.399_963; // golden angle: tilt axes all around
            let tilt = 0.25 + 0.2 * ((i * 7 % 5) as f64 / 4.0);
            Pose {
                rvec: [tilt * a.cos(), tilt * a.sin(), 0.3 * ((i % 3) as f64 - 1.0)],
                t: [
                    -0.12 + 0.01 * (i % 4) as f64,
                    -0.08 + 0.01 * (i % 3) as f64,
                    0.5 + 0.04 * (i % 5) as f64,
                ],
            }
        })
        .collect();
    let image = poses
        .iter()
        .map(|p| camera.project_points(p, &board).unwrap())
        .collect();
    (vec![board; n], image, poses)
}

fn assert_recovered(truth: &Camera, fit: &Calibration, poses: &[Pose], tol: f64) {
    let (a, b) = (&fit.camera.intrinsics, &truth.intrinsics);
    for (what, x, y) in [
        ("fx", a.fx, b.fx),
        ("fy", a.fy, b.fy),
        ("cx", a.cx, b.cx),
        ("cy", a.cy, b.cy),
        ("skew", a.skew, b.skew),
    ] {
        assert!((x - y).abs() < tol, "{what}: {x} vs {y}");
    }
    let (da, db) = (
        fit.camera.distortion.coefficients(),
        truth.distortion.coefficients(),
    );
    for i in 0..5 {
        assert!(
            (da[i] - db[i]).abs() < tol,
            "dist[{i}]: {} vs {}",
            da[i],
            db[i]
        );
    }
    for (p, q) in fit.poses.iter().zip(poses) {
        for i in 0..3 {
            assert!((p.rvec[i] - q.rvec[i]).abs() < tol && (p.t[i] - q.t[i]).abs() < tol);
        }
    }
    assert!(fit.rms < 1e-7, "rms {}", fit.rms);
}

fn truth(skew: f64, distortion: Distortion) -> Camera {
    Camera {
        intrinsics: Intrinsics {
            fx: 812.5,
            fy: 797.25,
            cx: 331.75,
            cy: 228.5,
            skew,
        },
        distortion,
        image_size: [640, 480],
    }
}

#[test]
fn hand_built_cameras_are_recovered_to_1e6() {
    let full = Distortion {
        k1: -0.23,
        k2: 0.11,
        p1: 0.0012,
        p2: -0.0017,
        k3: -0.04,
    };
    for n in [5, 9, 15] {
        let cam = truth(0.0, full);
        let (object, image, poses) = synthetic(&cam, n);
        for init in [CalibrationInit::OpenCv, CalibrationInit::Zhang] {
            let params = CalibrationParams {
                init,
                max_iterations: 100,
                ..Default::default()
            };
            let fit = params.calibrate(&object, &image, [640, 480]).unwrap();
            assert_recovered(&cam, &fit, &poses, 1e-6);
        }
    }
    // With skew, estimated (OpenCV has no skew parameter).
    let cam = truth(2.75, full);
    let (object, image, poses) = synthetic(&cam, 10);
    for init in [CalibrationInit::OpenCv, CalibrationInit::Zhang] {
        let params = CalibrationParams {
            fix_skew: false,
            init,
            max_iterations: 100,
            ..Default::default()
        };
        let fit = params.calibrate(&object, &image, [640, 480]).unwrap();
        assert_recovered(&cam, &fit, &poses, 1e-6);
    }
}

#[test]
fn zhangs_closed_form_is_exact_without_distortion() {
    for skew in [0.0, 3.5] {
        let cam = truth(skew, Distortion::default());
        let (object, image, _) = synthetic(&cam, 6);
        let hs: Vec<[[f64; 3]; 3]> = object
            .iter()
            .zip(&image)
            .map(|(o, i)| {
                let src: Vec<[f64; 2]> = o.iter().map(|p| [p[0], p[1]]).collect();
                classic_cv::geometry::homography::homography_dlt(&src, i).unwrap()
            })
            .collect();
        let k = zhang_intrinsics(&hs, [640, 480], skew == 0.0).unwrap();
        let t = cam.intrinsics;
        for (x, y) in [
            (k.fx, t.fx),
            (k.fy, t.fy),
            (k.cx, t.cx),
            (k.cy, t.cy),
            (k.skew, t.skew),
        ] {
            assert!((x - y).abs() < 1e-6, "{x} vs {y} (skew {skew})");
        }
    }
}

fn message<T: std::fmt::Debug>(r: classic_cv::Result<T>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn bad_views_are_clear_errors() {
    let cam = truth(0.0, Distortion::default());
    let (object, image, _) = synthetic(&cam, 5);
    let p = CalibrationParams::default();
    let m = message(p.calibrate(&object[..2], &image[..2], [640, 480]));
    assert!(m.contains("at least 3 views"), "{m}");
    let m = message(p.calibrate(&object, &image[..4], [640, 480]));
    assert!(m.contains("length mismatch"), "{m}");
    let mut short = image.clone();
    short[1].pop();
    let m = message(p.calibrate(&object, &short, [640, 480]));
    assert!(m.contains("view 1"), "{m}");
    let three: Vec<Vec<[f64; 3]>> = object.iter().map(|o| o[..3].to_vec()).collect();
    let three_i: Vec<Vec<[f64; 2]>> = image.iter().map(|o| o[..3].to_vec()).collect();
    let m = message(p.calibrate(&three, &three_i, [640, 480]));
    assert!(m.contains("needs 4"), "{m}");
    let mut nan = image.clone();
    nan[2][7][0] = f64::NAN;
    let m = message(p.calibrate(&object, &nan, [640, 480]));
    assert!(m.contains("non-finite"), "{m}");
    // A row of the board only: collinear.
    let row: Vec<Vec<[f64; 3]>> = object.iter().map(|o| o[..9].to_vec()).collect();
    let row_i: Vec<Vec<[f64; 2]>> = image.iter().map(|o| o[..9].to_vec()).collect();
    let m = message(p.calibrate(&row, &row_i, [640, 480]));
    assert!(m.contains("collinear"), "{m}");
    let mut lifted = object.clone();
    lifted[0][0][2] = 0.01;
    let m = message(p.calibrate(&lifted, &image, [640, 480]));
    assert!(m.contains("z = 0"), "{m}");
}

#[test]
fn parallel_views_are_degenerate() {
    let cam = truth(0.0, Distortion::default());
    let board = board_points(9, 6, 0.03);
    // Fronto-parallel boards, only translated: the focal length is not determined.
    let poses: Vec<Pose> = (0..4)
        .map(|i| Pose {
            rvec: [0.0, 0.0, 0.0],
            t: [-0.1 + 0.02 * i as f64, -0.07, 0.5 + 0.1 * i as f64],
        })
        .collect();
    let image: Vec<Vec<[f64; 2]>> = poses
        .iter()
        .map(|p| cam.project_points(p, &board).unwrap())
        .collect();
    let object = vec![board.clone(); 4];
    let m = message(CalibrationParams::default().calibrate(&object, &image, [640, 480]));
    assert!(m.contains("parallel"), "{m}");
    // Boards all tilted the same way: Zhang's B system is rank-deficient.
    let poses: Vec<Pose> = (0..4)
        .map(|i| Pose {
            rvec: [0.3, 0.2, 0.0],
            t: [-0.1 + 0.02 * i as f64, -0.07, 0.5 + 0.1 * i as f64],
        })
        .collect();
    let image: Vec<Vec<[f64; 2]>> = poses
        .iter()
        .map(|p| cam.project_points(p, &board).unwrap())
        .collect();
    let params = CalibrationParams {
        init: CalibrationInit::Zhang,
        ..Default::default()
    };
    let m = message(params.calibrate(&object, &image, [640, 480]));
    assert!(m.contains("rank-deficient"), "{m}");
}

#[test]
fn bad_params_are_refused() {
    for p in [
        CalibrationParams {
            max_iterations: 0,
            ..Default::default()
        },
        CalibrationParams {
            fix_aspect_ratio: Some(f64::NAN),
            ..Default::default()
        },
        CalibrationParams {
            epsilon: -1.0,
            ..Default::default()
        },
    ] {
        assert!(p.validate().is_err(), "{p:?}");
    }
}

/// The anchor's corners as the JSON lines of `classic-cv corners --json`, with one image
/// whose board was not found.
fn write_corners_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut text = String::new();
    for (i, v) in opencv_left_corners().iter().enumerate() {
        let line = serde_json::json!({
            "image": format!("view{i:02}.png"),
            "found": true,
            "corners": v,
        });
        text.push_str(&format!("{line}\n"));
    }
    text.push_str("{\"image\": \"left10.jpg\", \"found\": false, \"corners\": []}\n");
    let path = dir.join("corners.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_calibrate_command_prints_json_and_writes_camera_files() {
    let dir = tempfile::tempdir().unwrap();
    let corners = write_corners_file(dir.path());
    let corners = corners.to_str().unwrap();
    let base = [
        "--json",
        "calibrate",
        "--board",
        "9x6",
        "--square",
        "0.025",
        "--image-size",
        "640x480",
        "--corners",
        corners,
    ];
    let (code, out, err) = classic_cv(&base);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["views"], 13);
    assert_eq!(v["image_size"], serde_json::json!([640, 480]));
    assert!(v["rms"].as_f64().unwrap() <= 0.408_694_638_132_744 * 1.01);
    let fx = v["camera_matrix"][0][0].as_f64().unwrap();
    assert!((fx - 536.073_433).abs() < 0.536, "fx {fx}");
    assert_eq!(v["dist"].as_array().unwrap().len(), 5);
    assert_eq!(v["per_view_rms"].as_array().unwrap().len(), 13);

    // The same calibration through the library (the command's squares are 0.025 in f64).
    let views = opencv_left_corners();
    let params = CalibrationParams {
        fix_principal_point: true,
        ..Default::default()
    };
    let from_api = params
        .calibrate(&vec![board_points(9, 6, 0.025); 13], &views, [640, 480])
        .unwrap();
    for name in ["cam.yml", "cam.xml", "cam.json"] {
        let out = dir.path().join(name);
        let mut args = base.to_vec();
        args.extend(["--fix-principal-point", "-o", out.to_str().unwrap()]);
        let (code, _, err) = classic_cv(&args);
        assert_eq!(code, 0, "{err}");
        let cam = classic_cv::geometry::storage::load_camera(&out).unwrap();
        assert_eq!(cam, from_api.camera, "{name}");
    }
    let yml = std::fs::read_to_string(dir.path().join("cam.yml")).unwrap();
    assert!(yml.starts_with("%YAML:1.0\n") && yml.contains("!!opencv-matrix"));
}

/// Runs `calibrate --board BOARD --image-size 640x480 --corners CORNERS EXTRA...`, which
/// must fail with exit code 1 and one line on stderr containing `expected`.
/// Runs `calibrate` on a corners file and expects exit 1 (2 for a usage error: an output
/// that is also an input) with one line containing `expected`.
fn refused(board: &str, corners: &std::path::Path, extra: &[&str], expected: &str) {
    let c = corners.to_str().unwrap();
    let mut args = vec![
        "calibrate",
        "--board",
        board,
        "--image-size",
        "640x480",
        "--corners",
        c,
    ];
    args.extend(extra);
    let (code, _, err) = classic_cv(&args);
    let usage = expected.contains("also an input");
    assert_eq!(code, if usage { 2 } else { 1 }, "{err}");
    assert!(
        err.contains(expected) && err.trim().lines().count() == 1,
        "{err}"
    );
}

#[test]
fn the_calibrate_command_refuses_bad_input_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let corners = write_corners_file(dir.path());
    refused("8x6", &corners, &[], "wrong --board");
    refused(
        "9x6",
        &corners,
        &["-o", corners.to_str().unwrap()],
        "is also an input",
    );
    let two: String = std::fs::read_to_string(&corners)
        .unwrap()
        .lines()
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect();
    let short = dir.path().join("two.jsonl");
    std::fs::write(&short, two).unwrap();
    refused("9x6", &short, &[], "at least 3 views");
    std::fs::write(&short, "{\"a\": 1}\n").unwrap();
    refused("9x6", &short, &[], "not a corners line");
}

/// The whole job from photos: `calibrate` finds and refines the corners of the 13 left
/// views itself; RMS within 1 % of OpenCV's and fx, fy, cx, cy within 0.5 % of
/// `cv2.calibrateCamera` on `cv2.findChessboardCorners` + `cornerSubPix` (0.40869 px).
#[test]
fn the_calibrate_command_calibrates_from_photos() {
    let dir = crate::locate::cache().join("opencv-doc");
    let photos: Vec<String> = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14]
        .iter()
        .map(|i| dir.join(format!("left{i:02}.jpg")).display().to_string())
        .collect();
    let mut args = vec!["--json", "calibrate", "--board", "9x6", "--square", "0.025"];
    args.extend(photos.iter().map(|s| s.as_str()));
    let (code, out, err) = classic_cv(&args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["views"], 13);
    assert_eq!(v["image_size"], serde_json::json!([640, 480]));
    let rms = v["rms"].as_f64().unwrap();
    assert!(rms <= 0.408_694_638_132_744 * 1.01, "rms {rms}");
    let k = &v["camera_matrix"];
    for (what, ours, theirs) in [
        ("fx", &k[0][0], 536.073_433_252_463_4),
        ("fy", &k[1][1], 536.016_341_502_655_2),
        ("cx", &k[0][2], 342.370_472_965_28),
        ("cy", &k[1][2], 235.536_875_256_809_2),
    ] {
        assert_within(what, ours.as_f64().unwrap(), theirs, 5e-3);
    }
    // A photo without the board is skipped; fewer than 3 views is an error naming them.
    let few = [photos[0].as_str(), photos[1].as_str()];
    let mut args = vec!["calibrate", "--board", "9x6"];
    args.extend(few);
    let (code, _, err) = classic_cv(&args);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("at least 3 views"), "{err}");
}
