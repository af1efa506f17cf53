//! Stereo calibration and rectification: OpenCV's `stereoCalibrate` and `stereoRectify` on
//! its own sample pairs (from OpenCV's corners in the shared anchors) matched, synthetic rigs
//! recovered exactly, rectified corners on one row, and bad input refused.

use classic_cv::geometry::calibrate::board_points;
use classic_cv::geometry::camera::{Camera, Distortion, Intrinsics, Mat3, Pose, rodrigues};
use classic_cv::stereo::rectify::{RectifyParams, rectify_points, stereo_rectify};
use classic_cv::stereo::rig::{StereoCalibrationParams, StereoRig};

use crate::calibrate::read_npz;
use crate::locate::anchors;

// OpenCV 4.14 on the anchor's corners (cv2.calibrateCamera per side, then
// cv2.stereoCalibrate with CALIB_FIX_INTRINSIC or CALIB_USE_INTRINSIC_GUESS, then
// cv2.stereoRectify on the fixed-intrinsics rig).
#[rustfmt::skip]
const K1: [[f64; 3]; 3] = [[536.0734332524634, 0.0, 342.37047296528], [0.0, 536.0163415026552, 235.53687525680917], [0.0, 0.0, 1.0]];
#[rustfmt::skip]
const D1: [f64; 5] = [-0.2650900911525954, -0.04674441490676336, 0.001833026428097891, -0.00031469286536299783, 0.25231620028589336];
#[rustfmt::skip]
const K2: [[f64; 3]; 3] = [[542.3549181775013, 0.0, 328.324228145319], [0.0, 541.6151437205534, 246.9473503055366], [0.0, 0.0, 1.0]];
#[rustfmt::skip]
const D2: [f64; 5] = [-0.28054270147344895, 0.10432117006099664, -0.0005581750755538179, 0.0013035699379487507, -0.023718561543291876];
#[rustfmt::skip]
const FIX_RMS: f64 = 0.44777216261068886;
#[rustfmt::skip]
const FIX_R: [[f64; 3]; 3] = [[0.9999852417612064, 0.004129049679067567, 0.0035308934463374074], [-0.0041280929919554656, 0.9999914406919124, -0.00027819267300246547], [-0.003532011895699758, 0.0002636127108773646, 0.9999937276804827]];
#[rustfmt::skip]
const FIX_T: [f64; 3] = [-0.08360619878953243, 0.0010430280327165056, 0.001324095527252046];
#[rustfmt::skip]
const FIX_E: [[f64; 3]; 3] = [[1.7820020476257341e-06, -0.0013238092384632654, 0.0010433898441854557], [0.001028777897255202, 2.7506912920915347e-05, 0.08361034962495949], [-0.0006978784761526261, -0.0836097898928827, 1.957581107577061e-05]];
#[rustfmt::skip]
const FIX_F: [[f64; 3]; 3] = [[-3.843603315614096e-09, 2.8556305729644776e-06, -0.0018777179285589308], [-2.2220036583552994e-06, -5.9417072740164294e-08, -0.09603241429225368], [0.0013663624783620892, 0.0968947738891027, 1.0]];
#[rustfmt::skip]
const REFINE_RMS: f64 = 0.4472387739548112;
#[rustfmt::skip]
const REFINE_T: [f64; 3] = [-0.08361967449236754, 0.001037358876482814, 0.0006091205557897663];
#[rustfmt::skip]
const REFINE_K1: [[f64; 3]; 3] = [[536.2676600862419, 0.0, 342.4644402331658], [0.0, 536.0673835788357, 235.4915678278211], [0.0, 0.0, 1.0]];
#[rustfmt::skip]
const REFINE_D2: [f64; 5] = [-0.2829256910167598, 0.10415029346143072, -0.0004106631600581495, 0.000829763738915715, -0.016409431625970704];
/// (zero_disparity, alpha (< 0: none), R1, R2, P1, P2, Q, roi1, roi2) from cv2.stereoRectify.
#[rustfmt::skip]
type RectCase = (bool, f64, [[f64; 3]; 3], [[f64; 3]; 3], [[f64; 4]; 3], [[f64; 4]; 3], [[f64; 4]; 4], [u32; 4], [u32; 4]);
#[rustfmt::skip]
const RECTIFY: [RectCase; 8] = [
    (true, -1.0, [[0.9998894935800923, -0.00834880874419552, -0.012300326040375054], [0.008347077038425587, 0.9999651440904519, -0.00019211735038279334], [0.01230150125233797, 8.942435112547015e-05, 0.9999243296721128]], [[0.9997968331855087, -0.012472952234787657, -0.015834071326633222], [0.012475181261681925, 0.9999221810161201, 4.200540166227197e-05], [0.015832315203923367, -0.00023952977746874194, 0.999874632351861]], [[538.8157426116043, 0.0, 350.6118278503418, 0.0], [0.0, 538.8157426116043, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[538.8157426116043, 0.0, 350.6118278503418, -45.05749027448337], [0.0, 538.8157426116043, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0, -350.6118278503418], [0.0, 1.0, 0.0, -243.0536994934082], [0.0, 0.0, 0.0, 538.8157426116043], [0.0, 0.0, 11.958405568734984, -0.0]], [0, 0, 640, 480], [0, 0, 640, 480]),
    (true, 0.0, [[0.9998894935800923, -0.00834880874419552, -0.012300326040375054], [0.008347077038425587, 0.9999651440904519, -0.00019211735038279334], [0.01230150125233797, 8.942435112547015e-05, 0.9999243296721128]], [[0.9997968331855087, -0.012472952234787657, -0.015834071326633222], [0.012475181261681925, 0.9999221810161201, 4.200540166227197e-05], [0.015832315203923367, -0.00023952977746874194, 0.999874632351861]], [[520.79564876267, 0.0, 350.6118278503418, 0.0], [0.0, 520.79564876267, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[520.79564876267, 0.0, 350.6118278503418, -43.550592574337834], [0.0, 520.79564876267, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0, -350.6118278503418], [0.0, 1.0, 0.0, -243.0536994934082], [0.0, 0.0, 0.0, 520.79564876267], [0.0, 0.0, 11.958405568734984, -0.0]], [0, 0, 640, 480], [0, 0, 640, 479]),
    (true, 0.5, [[0.9998894935800923, -0.00834880874419552, -0.012300326040375054], [0.008347077038425587, 0.9999651440904519, -0.00019211735038279334], [0.01230150125233797, 8.942435112547015e-05, 0.9999243296721128]], [[0.9997968331855087, -0.012472952234787657, -0.015834071326633222], [0.012475181261681925, 0.9999221810161201, 4.200540166227197e-05], [0.015832315203923367, -0.00023952977746874194, 0.999874632351861]], [[473.3244190870906, 0.0, 350.6118278503418, 0.0], [0.0, 473.3244190870906, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[473.3244190870906, 0.0, 350.6118278503418, -39.58089699889323], [0.0, 473.3244190870906, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0, -350.6118278503418], [0.0, 1.0, 0.0, -243.0536994934082], [0.0, 0.0, 0.0, 473.3244190870906], [0.0, 0.0, 11.958405568734984, -0.0]], [2, 22, 630, 449], [17, 14, 623, 443]),
    (true, 1.0, [[0.9998894935800923, -0.00834880874419552, -0.012300326040375054], [0.008347077038425587, 0.9999651440904519, -0.00019211735038279334], [0.01230150125233797, 8.942435112547015e-05, 0.9999243296721128]], [[0.9997968331855087, -0.012472952234787657, -0.015834071326633222], [0.012475181261681925, 0.9999221810161201, 4.200540166227197e-05], [0.015832315203923367, -0.00023952977746874194, 0.999874632351861]], [[425.85318941151127, 0.0, 350.6118278503418, 0.0], [0.0, 425.85318941151127, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[425.85318941151127, 0.0, 350.6118278503418, -35.611201423448634], [0.0, 425.85318941151127, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0, -350.6118278503418], [0.0, 1.0, 0.0, -243.0536994934082], [0.0, 0.0, 0.0, 425.85318941151127], [0.0, 0.0, 11.958405568734984, -0.0]], [37, 44, 566, 404], [51, 37, 560, 399]),
    (false, -1.0, [[0.9998894935800923, -0.00834880874419552, -0.012300326040375054], [0.008347077038425587, 0.9999651440904519, -0.00019211735038279334], [0.01230150125233797, 8.942435112547015e-05, 0.9999243296721128]], [[0.9997968331855087, -0.012472952234787657, -0.015834071326633222], [0.012475181261681925, 0.9999221810161201, 4.200540166227197e-05], [0.015832315203923367, -0.00023952977746874194, 0.999874632351861]], [[538.8157426116043, 0.0, 353.5848846435547, 0.0], [0.0, 538.8157426116043, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[538.8157426116043, 0.0, 347.6387710571289, -45.05749027448337], [0.0, 538.8157426116043, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0, -353.5848846435547], [0.0, 1.0, 0.0, -243.0536994934082], [0.0, 0.0, 0.0, 538.8157426116043], [0.0, 0.0, 11.958405568734984, -71.10603782424481]], [0, 0, 640, 480], [0, 0, 640, 480]),
    (false, 0.0, [[0.9998894935800923, -0.00834880874419552, -0.012300326040375054], [0.008347077038425587, 0.9999651440904519, -0.00019211735038279334], [0.01230150125233797, 8.942435112547015e-05, 0.9999243296721128]], [[0.9997968331855087, -0.012472952234787657, -0.015834071326633222], [0.012475181261681925, 0.9999221810161201, 4.200540166227197e-05], [0.015832315203923367, -0.00023952977746874194, 0.999874632351861]], [[520.79564876267, 0.0, 353.5848846435547, 0.0], [0.0, 520.79564876267, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[520.79564876267, 0.0, 347.6387710571289, -43.550592574337834], [0.0, 520.79564876267, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0, -353.5848846435547], [0.0, 1.0, 0.0, -243.0536994934082], [0.0, 0.0, 0.0, 520.79564876267], [0.0, 0.0, 11.958405568734984, -71.10603782424481]], [0, 0, 640, 480], [0, 0, 640, 479]),
    (false, 0.5, [[0.9998894935800923, -0.00834880874419552, -0.012300326040375054], [0.008347077038425587, 0.9999651440904519, -0.00019211735038279334], [0.01230150125233797, 8.942435112547015e-05, 0.9999243296721128]], [[0.9997968331855087, -0.012472952234787657, -0.015834071326633222], [0.012475181261681925, 0.9999221810161201, 4.200540166227197e-05], [0.015832315203923367, -0.00023952977746874194, 0.999874632351861]], [[473.3244190870906, 0.0, 353.5848846435547, 0.0], [0.0, 473.3244190870906, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[473.3244190870906, 0.0, 347.6387710571289, -39.58089699889323], [0.0, 473.3244190870906, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0, -353.5848846435547], [0.0, 1.0, 0.0, -243.0536994934082], [0.0, 0.0, 0.0, 473.3244190870906], [0.0, 0.0, 11.958405568734984, -71.10603782424481]], [5, 22, 630, 449], [14, 14, 623, 443]),
    (false, 1.0, [[0.9998894935800923, -0.00834880874419552, -0.012300326040375054], [0.008347077038425587, 0.9999651440904519, -0.00019211735038279334], [0.01230150125233797, 8.942435112547015e-05, 0.9999243296721128]], [[0.9997968331855087, -0.012472952234787657, -0.015834071326633222], [0.012475181261681925, 0.9999221810161201, 4.200540166227197e-05], [0.015832315203923367, -0.00023952977746874194, 0.999874632351861]], [[425.85318941151127, 0.0, 353.5848846435547, 0.0], [0.0, 425.85318941151127, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[425.85318941151127, 0.0, 347.6387710571289, -35.611201423448634], [0.0, 425.85318941151127, 243.0536994934082, 0.0], [0.0, 0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0, -353.5848846435547], [0.0, 1.0, 0.0, -243.0536994934082], [0.0, 0.0, 0.0, 425.85318941151127], [0.0, 0.0, 11.958405568734984, -71.10603782424481]], [40, 44, 566, 404], [48, 37, 560, 399]),
];
#[rustfmt::skip]
const RECT_MEAN_DY: f64 = 0.14548864015572505;
#[rustfmt::skip]
const RECT_FIRST: [[[f64; 2]; 2]; 13] = [[[243.45163905503074, 95.07998911482028], [130.43874238830773, 95.3324977498201]], [[254.4255898111794, 372.73355522446957], [128.06152166949687, 372.7009681655043]], [[277.6505130277125, 72.41471202654391], [135.45429516099796, 72.2601327887904]], [[184.03875525467245, 131.7303559842733], [47.63520563959863, 132.15413096757533]], [[444.3242039639724, 48.32428438707719], [302.8872515778142, 48.69829254915666]], [[611.1159020009119, 140.35641636625726], [477.6538641350965, 140.70841226560813]], [[371.8408968298277, 143.6941396551866], [256.28893329358107, 143.87974044576416]], [[479.09873337571634, 94.95163052994938], [336.9410824790952, 94.3231461656226]], [[216.01923220073036, 84.51699474280994], [53.507057843409875, 84.6694403855856]], [[419.7193246022446, 67.01442850035346], [286.86531921375, 67.06502125581203]], [[429.7454614954281, 72.35184781222218], [290.64766978575494, 72.57785943761948]], [[407.5288498071624, 74.21488795174142], [253.04449073304704, 74.25681113152496]], [[422.7389200777678, 57.41255399387716], [279.12169012240145, 57.52823576549157]]];

/// Pixels of the board's corners, per view.
type Views = Vec<Vec<[f64; 2]>>;

/// OpenCV's sub-pixel corners of the 13 pairs (left01..14 without 10): (left, right).
fn opencv_pairs() -> (Views, Views) {
    let mut members = read_npz(&anchors("geometry/corners_opencv.npz"));
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let mut sides = (Vec::new(), Vec::new());
    for (name, data) in members {
        let a = classic_cv::npy::parse(std::path::Path::new(&name), &data).unwrap();
        let v: Vec<[f64; 2]> = a
            .into_f32()
            .chunks(2)
            .map(|c| [c[0] as f64, c[1] as f64])
            .collect();
        if name.starts_with("left") {
            sides.0.push(v);
        } else {
            sides.1.push(v);
        }
    }
    assert_eq!((sides.0.len(), sides.1.len()), (13, 13));
    sides
}

fn camera(k: &[[f64; 3]; 3], d: &[f64; 5]) -> Camera {
    Camera {
        intrinsics: Intrinsics::from_matrix(k).unwrap(),
        distortion: Distortion::from_coefficients(d).unwrap(),
        image_size: [640, 480],
    }
}

fn board() -> Vec<[f64; 3]> {
    board_points(9, 6, 0.025f32 as f64)
}

fn close(what: &str, ours: &[f64], theirs: &[f64], tol: f64) {
    let scale = theirs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            (a - b).abs() <= tol * scale,
            "{what}[{i}]: ours {a}, OpenCV {b} (tolerance {tol} of {scale})"
        );
    }
}

fn flat<const R: usize, const C: usize>(m: &[[f64; C]; R]) -> Vec<f64> {
    m.iter().flatten().copied().collect()
}

#[test]
fn stereo_calibration_of_opencvs_corners_matches_stereo_calibrate() {
    let (left, right) = opencv_pairs();
    let object = vec![board(); 13];
    let fit = StereoCalibrationParams::default()
        .calibrate(&object, &left, &right, &camera(&K1, &D1), &camera(&K2, &D2))
        .unwrap();
    let rig = &fit.rig;
    eprintln!(
        "rms {} vs {FIX_RMS}, T {:?}, iterations {}",
        rig.rms, rig.t, fit.iterations
    );
    assert!(rig.rms <= FIX_RMS * 1.01, "rms {}", rig.rms);
    close("rms", &[rig.rms], &[FIX_RMS], 1e-6);
    close("R", &flat(&rig.r), &flat(&FIX_R), 1e-6);
    close("T", &rig.t, &FIX_T, 1e-5);
    close("E", &flat(&rig.e), &flat(&FIX_E), 1e-5);
    close("F", &flat(&rig.f), &flat(&FIX_F), 1e-5);
    let baseline = FIX_T.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!((rig.baseline() - baseline).abs() < 0.005 * baseline);
    assert_eq!(fit.per_view_rms.len(), 13);
    let total: f64 = fit
        .per_view_rms
        .iter()
        .flatten()
        .map(|r| r * r * 54.0)
        .sum();
    assert!(((total / (2.0 * 13.0 * 54.0)).sqrt() - rig.rms).abs() < 1e-12);
    assert_eq!(rig.camera1, camera(&K1, &D1));
}

#[test]
fn joint_refinement_matches_stereo_calibrate_with_an_intrinsic_guess() {
    let (left, right) = opencv_pairs();
    let object = vec![board(); 13];
    let params = StereoCalibrationParams {
        fix_intrinsics: false,
        max_iterations: 100,
        ..Default::default()
    };
    let fit = params
        .calibrate(&object, &left, &right, &camera(&K1, &D1), &camera(&K2, &D2))
        .unwrap();
    let rig = &fit.rig;
    eprintln!("refined rms {} vs {REFINE_RMS}, T {:?}", rig.rms, rig.t);
    // OpenCV stops (30 steps, eps 1e-6) above the minimum this reaches: 0.44468 px
    // against its 0.44724 px. Its estimates are close to ours all the same.
    assert!(rig.rms <= REFINE_RMS, "rms {}", rig.rms);
    assert!(rig.rms < FIX_RMS);
    close("T", &rig.t, &REFINE_T, 1e-2);
    assert!(
        (rig.baseline() - REFINE_T.iter().map(|v| v * v).sum::<f64>().sqrt()).abs() < 5e-3 * 0.0836
    );
    close(
        "K1",
        &flat(&rig.camera1.intrinsics.matrix()),
        &flat(&REFINE_K1),
        5e-3,
    );
    close(
        "D2",
        &rig.camera2.distortion.coefficients(),
        &REFINE_D2,
        5e-2,
    );
    // A minimum: more steps do not lower the error further.
    let more = StereoCalibrationParams {
        max_iterations: 300,
        ..params
    }
    .calibrate(&object, &left, &right, &camera(&K1, &D1), &camera(&K2, &D2))
    .unwrap();
    assert!((more.rig.rms - rig.rms).abs() < 1e-9 * rig.rms);
}

#[test]
fn stereo_rectify_matches_opencv_for_each_flag_and_alpha() {
    let (c1, c2) = (camera(&K1, &D1), camera(&K2, &D2));
    for (zero, alpha, r1, r2, p1, p2, q, roi1, roi2) in RECTIFY {
        let params = RectifyParams {
            alpha: (alpha >= 0.0).then_some(alpha),
            zero_disparity: zero,
            new_size: None,
        };
        let what = format!("zero_disparity {zero}, alpha {alpha}");
        let rect = stereo_rectify(&c1, &c2, &FIX_R, FIX_T, &params).unwrap();
        close(&format!("R1 ({what})"), &flat(&rect.r1), &flat(&r1), 1e-9);
        close(&format!("R2 ({what})"), &flat(&rect.r2), &flat(&r2), 1e-9);
        close(&format!("P1 ({what})"), &flat(&rect.p1), &flat(&p1), 1e-6);
        close(&format!("P2 ({what})"), &flat(&rect.p2), &flat(&p2), 1e-6);
        close(&format!("Q ({what})"), &flat(&rect.q), &flat(&q), 1e-6);
        let roi = |r: &classic_cv::Rect| [r.x, r.y, r.width, r.height];
        assert_eq!(roi(&rect.roi1), roi1, "roi1 ({what})");
        assert_eq!(roi(&rect.roi2), roi2, "roi2 ({what})");
    }
}

#[test]
fn rectified_sample_corners_lie_on_one_row_as_opencvs() {
    let (left, right) = opencv_pairs();
    let (c1, c2) = (camera(&K1, &D1), camera(&K2, &D2));
    let rect = stereo_rectify(&c1, &c2, &FIX_R, FIX_T, &RectifyParams::default()).unwrap();
    let k = |p: &[[f64; 4]; 3]| -> Mat3 { std::array::from_fn(|i| [p[i][0], p[i][1], p[i][2]]) };
    let mut dy = 0.0;
    for (v, (l, r)) in left.iter().zip(&right).enumerate() {
        let a = rectify_points(&c1, &rect.r1, &k(&rect.p1), l);
        let b = rectify_points(&c2, &rect.r2, &k(&rect.p2), r);
        close("first left corner", &a[0], &RECT_FIRST[v][0], 1e-8);
        close("first right corner", &b[0], &RECT_FIRST[v][1], 1e-8);
        dy += a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p[1] - q[1]).abs())
            .sum::<f64>()
            / 54.0;
    }
    let dy = dy / 13.0;
    assert!(
        dy < 0.5 && (dy - RECT_MEAN_DY).abs() < 1e-6,
        "mean |dy| {dy}"
    );
}

/// A rig of two distorted cameras, the right one 12 cm to the right and turned slightly.
fn synthetic_rig() -> (Camera, Camera, Mat3, [f64; 3]) {
    let c1 = Camera {
        intrinsics: Intrinsics {
            fx: 700.0,
            fy: 695.0,
            cx: 318.0,
            cy: 242.0,
            skew: 0.0,
        },
        distortion: Distortion {
            k1: -0.21,
            k2: 0.08,
            p1: 0.001,
            p2: -0.0005,
            k3: 0.0,
        },
        image_size: [640, 480],
    };
    let c2 = Camera {
        intrinsics: Intrinsics {
            fx: 710.0,
            fy: 706.0,
            cx: 325.0,
            cy: 236.0,
            skew: 0.0,
        },
        distortion: Distortion {
            k1: -0.18,
            k2: 0.05,
            p1: -0.0008,
            p2: 0.0004,
            k3: 0.01,
        },
        image_size: [640, 480],
    };
    (
        c1,
        c2,
        rodrigues([0.01, -0.03, 0.004]),
        [-0.12, 0.003, 0.002],
    )
}

/// Board views seen by both cameras of the rig.
fn synthetic_views(
    c1: &Camera,
    c2: &Camera,
    r: &Mat3,
    t: [f64; 3],
) -> (Vec<Vec<[f64; 3]>>, Views, Views) {
    let board = board_points(9, 6, 0.03);
    let poses = [
        ([0.2, 0.3, 0.05], [-0.08, -0.07, 0.6]),
        ([-0.3, 0.1, -0.1], [-0.05, -0.08, 0.55]),
        ([0.1, -0.35, 0.2], [-0.1, -0.05, 0.7]),
        ([0.4, 0.2, -0.05], [-0.06, -0.06, 0.65]),
        ([-0.2, -0.25, 0.1], [-0.09, -0.07, 0.5]),
        ([0.05, 0.45, 0.0], [-0.07, -0.08, 0.75]),
    ];
    let (mut object, mut left, mut right) = (vec![], vec![], vec![]);
    for (rvec, tl) in poses {
        let pl = Pose { rvec, t: tl };
        let rr = classic_cv::geometry::camera::mat3_mul(r, &pl.rotation());
        let tt = classic_cv::geometry::camera::mat3_vec(r, tl);
        let pr = Pose::from_rotation(&rr, std::array::from_fn(|k| tt[k] + t[k])).unwrap();
        left.push(c1.project_points(&pl, &board).unwrap());
        right.push(c2.project_points(&pr, &board).unwrap());
        object.push(board.clone());
    }
    (object, left, right)
}

#[test]
fn synthetic_rigs_are_recovered_to_1e6() {
    let (c1, c2, r, t) = synthetic_rig();
    let (object, left, right) = synthetic_views(&c1, &c2, &r, t);
    // Fixed, exact cameras: R and T exactly.
    let fit = StereoCalibrationParams::default()
        .calibrate(&object, &left, &right, &c1, &c2)
        .unwrap();
    assert!(fit.rig.rms < 1e-9, "rms {}", fit.rig.rms);
    close("R", &flat(&fit.rig.r), &flat(&r), 1e-9);
    close("T", &fit.rig.t, &t, 1e-9);
    // Refined from perturbed cameras: the cameras too.
    let mut g1 = c1.clone();
    g1.intrinsics.fx += 6.0;
    g1.intrinsics.cx -= 4.0;
    g1.distortion.k1 = -0.15;
    let mut g2 = c2.clone();
    g2.intrinsics.fy -= 5.0;
    g2.intrinsics.cy += 3.0;
    g2.distortion.k2 = 0.0;
    let params = StereoCalibrationParams {
        fix_intrinsics: false,
        max_iterations: 100,
        ..Default::default()
    };
    let fit = params.calibrate(&object, &left, &right, &g1, &g2).unwrap();
    assert!(fit.rig.rms < 1e-8, "rms {}", fit.rig.rms);
    close("R", &flat(&fit.rig.r), &flat(&r), 1e-6);
    close("T", &fit.rig.t, &t, 1e-6);
    for (ours, truth) in [(&fit.rig.camera1, &c1), (&fit.rig.camera2, &c2)] {
        let k = |c: &Camera| flat(&c.intrinsics.matrix());
        close("K", &k(ours), &k(truth), 1e-6);
        let (a, b) = (
            ours.distortion.coefficients(),
            truth.distortion.coefficients(),
        );
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "dist {a:?} vs {b:?}");
        }
    }
    // The recovered rig rectifies its own views onto common rows.
    let mut rig = fit.rig.clone();
    rig.rectify(&RectifyParams::default()).unwrap();
    let rect = rig.rectification().unwrap();
    let k = |p: &[[f64; 4]; 3]| -> Mat3 { std::array::from_fn(|i| [p[i][0], p[i][1], p[i][2]]) };
    for (l, rt) in left.iter().zip(&right) {
        let a = rectify_points(&c1, &rect.r1, &k(&rect.p1), l);
        let b = rectify_points(&c2, &rect.r2, &k(&rect.p2), rt);
        for (p, q) in a.iter().zip(&b) {
            // OpenCV's 5 undistortion iterations leave a small residual at the borders.
            assert!((p[1] - q[1]).abs() < 0.05, "{p:?} {q:?}");
        }
    }
}

#[test]
fn the_rig_round_trips_and_refuses_bad_input() {
    let (c1, c2, r, t) = synthetic_rig();
    let (object, left, right) = synthetic_views(&c1, &c2, &r, t);
    let p = StereoCalibrationParams::default();
    let msg = |e: classic_cv::Error| e.to_string();
    // Unequal numbers of views, too few views, different image sizes.
    let e = p
        .calibrate(&object, &left, &right[..5], &c1, &c2)
        .unwrap_err();
    assert!(matches!(e, classic_cv::Error::LengthMismatch { .. }), "{e}");
    let e = p
        .calibrate(&object[..2], &left[..2], &right[..2], &c1, &c2)
        .unwrap_err();
    assert!(msg(e).contains("at least 3 views"));
    let mut small = c2.clone();
    small.image_size = [320, 240];
    let e = p
        .calibrate(&object, &left, &right, &c1, &small)
        .unwrap_err();
    assert!(msg(e).contains("image sizes differ"));
    let mut nan = left.clone();
    nan[1][3][0] = f64::NAN;
    assert!(p.calibrate(&object, &nan, &right, &c1, &c2).is_err());
    // A rig without rectification says so; a zero baseline is refused.
    let rig = StereoRig::new(c1.clone(), c2.clone(), r, t).unwrap();
    assert!(msg(rig.rectification().unwrap_err()).contains("no rectification"));
    assert!(StereoRig::new(c1.clone(), c2.clone(), r, [0.0; 3]).is_err());
    assert!(stereo_rectify(&c1, &c2, &r, [0.0; 3], &RectifyParams::default()).is_err());
    // Model file: round trip, and another kind refused.
    let dir = tempfile::tempdir().unwrap();
    let mut rig = rig;
    rig.rectify(&RectifyParams::default()).unwrap();
    let path = dir.path().join("rig.json");
    classic_cv::persist::save(&path, &rig).unwrap();
    let back: StereoRig = classic_cv::persist::load(&path).unwrap();
    assert_eq!(back, rig);
    let cam_path = dir.path().join("cam.json");
    classic_cv::persist::save(&cam_path, &c1).unwrap();
    assert!(classic_cv::persist::load::<StereoRig>(&cam_path).is_err());
    // A tampered rig (R not a rotation) is refused at load.
    let text = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut v = v;
    v["model"]["r"][0][0] = serde_json::json!(2.0);
    v.as_object_mut().unwrap().remove("sha256");
    std::fs::write(&path, v.to_string()).unwrap();
    assert!(classic_cv::persist::load::<StereoRig>(&path).is_err());
}

/// The sample pairs' photo paths (left01..14 without 10).
fn sample_photos() -> (Vec<String>, Vec<String>) {
    let dir = crate::locate::cache().join("opencv-doc");
    let names = |side: &str| -> Vec<String> {
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14]
            .iter()
            .map(|i| dir.join(format!("{side}{i:02}.jpg")).display().to_string())
            .collect()
    };
    (names("left"), names("right"))
}

fn run_ok(args: &[&str]) -> String {
    let (code, out, err) = crate::cli::classic_cv(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

/// Runs a command that must fail with `code` and one line containing `expected`.
fn run_refused(args: &[&str], code: i32, expected: &str) {
    let (c, _, err) = crate::cli::classic_cv(args);
    assert_eq!(c, code, "{args:?}: {err}");
    let lines: Vec<&str> = err
        .trim()
        .lines()
        .filter(|l| !l.starts_with("warning"))
        .collect();
    assert!(
        lines.len() == 1 && err.contains(expected),
        "{args:?}: {err}"
    );
}

/// The whole job from photos: corners found, each camera calibrated, the pair calibrated
/// with fixed intrinsics and rectified. RMS within 1 % of OpenCV's 0.4478 px and the
/// baseline within 0.5 % of its 83.62 mm; the rectified photos show the board's corners on
/// common rows; `stereo --rig` rectifies a raw pair and writes a cloud with the rig's Q.
#[test]
fn the_stereo_calibrate_command_calibrates_and_rectifies_the_sample_pairs() {
    let (left, right) = sample_photos();
    let dir = tempfile::tempdir().unwrap();
    let rig_path = dir.path().join("rig.json");
    let rig_str = rig_path.to_str().unwrap();
    let mut args = vec![
        "--json",
        "stereo-calibrate",
        "--board",
        "9x6",
        "--square",
        "0.025",
    ];
    args.push("--left");
    args.extend(left.iter().map(|s| s.as_str()));
    args.push("--right");
    args.extend(right.iter().map(|s| s.as_str()));
    let mut with_out = args.clone();
    with_out.extend(["-o", rig_str]);
    let v: serde_json::Value = serde_json::from_str(run_ok(&with_out).trim()).unwrap();
    let rms = v["rms"].as_f64().unwrap();
    let baseline = v["baseline"].as_f64().unwrap();
    let opencv = FIX_T.iter().map(|v| v * v).sum::<f64>().sqrt();
    eprintln!("photos: rms {rms}, baseline {baseline} (OpenCV {FIX_RMS}, {opencv})");
    assert!(rms <= FIX_RMS * 1.01, "rms {rms}");
    assert!(
        (baseline - opencv).abs() <= 0.005 * opencv,
        "baseline {baseline}"
    );
    assert_eq!(v["pairs"], 13);
    for key in [
        "R", "T", "E", "F", "R1", "R2", "P1", "P2", "Q", "roi1", "roi2",
    ] {
        assert!(!v[key].is_null(), "{key} missing");
    }

    // Rectified photos: the board's corners (found again) on common rows.
    let rig: StereoRig = classic_cv::persist::load(&rig_path).unwrap();
    let rect = rig.rectification().unwrap();
    let maps = rect.maps(&rig.camera1, &rig.camera2).unwrap();
    let board = classic_cv::geometry::chessboard::BoardSize { cols: 9, rows: 6 };
    let chess = classic_cv::geometry::chessboard::ChessboardParams::default();
    let mut dys = vec![];
    for (l, r) in left.iter().zip(&right).take(4) {
        let corners = |path: &str, map: &classic_cv::geometry::remap::WarpMap| {
            let img = classic_cv::Image::load(path).unwrap();
            let warped = map.apply(&img, Default::default()).unwrap();
            classic_cv::geometry::chessboard::find_chessboard_corners(&warped, board, &chess)
                .unwrap()
                .expect("board found in the rectified photo")
        };
        let (a, b) = (corners(l, &maps[0]), corners(r, &maps[1]));
        dys.push(
            a.iter()
                .zip(&b)
                .map(|(p, q)| (p[1] - q[1]).abs())
                .sum::<f64>()
                / 54.0,
        );
    }
    eprintln!("mean |dy| of rectified photos: {dys:?}");
    assert!(dys.iter().all(|&d| d < 0.5), "{dys:?}");

    // stereo --rig: the raw pair rectified, the cloud from the rig's Q.
    let disp = dir.path().join("d.npy");
    let ply = dir.path().join("c.ply");
    run_ok(&[
        "stereo",
        &left[0],
        &right[0],
        "--rig",
        rig_str,
        "--max-disparity",
        "64",
        "-o",
        disp.to_str().unwrap(),
        "--ply",
        ply.to_str().unwrap(),
    ]);
    assert!(std::fs::metadata(&ply).unwrap().len() > 100);

    // OpenCV YAML.
    let yml = dir.path().join("rig.yml");
    let mut yml_args = args.clone();
    yml_args.extend(["-o", yml.to_str().unwrap()]);
    run_ok(&yml_args);
    let text = std::fs::read_to_string(&yml).unwrap();
    assert!(text.starts_with("%YAML:1.0\n---\n"));
    for name in [
        "M1", "D1", "M2", "D2", "R", "T", "E", "F", "R1", "R2", "P1", "P2", "Q",
    ] {
        assert!(
            text.contains(&format!("\n{name}: !!opencv-matrix\n")),
            "{name}"
        );
    }

    // A rig without rectification, and a file of another kind, are refused by stereo --rig.
    let bare = dir.path().join("bare.json");
    let mut bare_args = args[1..].to_vec();
    bare_args.extend(["--no-rectify", "-o", bare.to_str().unwrap()]);
    run_ok(&bare_args);
    let stereo_with = |rig: &str| {
        vec![
            "stereo".to_string(),
            left[0].clone(),
            right[0].clone(),
            "--rig".into(),
            rig.to_string(),
            "-o".into(),
            dir.path().join("x.npy").display().to_string(),
        ]
    };
    let a = stereo_with(bare.to_str().unwrap());
    run_refused(
        &a.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        1,
        "no rectification",
    );
    let cam = dir.path().join("cam.json");
    classic_cv::persist::save(&cam, &rig.camera1).unwrap();
    let a = stereo_with(cam.to_str().unwrap());
    run_refused(
        &a.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        1,
        "stereo-rig",
    );
    assert!(!dir.path().join("x.npy").exists());
}

#[test]
fn the_stereo_calibrate_command_refuses_bad_pairs() {
    let (left, right) = sample_photos();
    let dir = tempfile::tempdir().unwrap();
    let blank = dir.path().join("blank.png");
    classic_cv::Image::from_fn(640, 480, |_, _| 0.5)
        .save_png(&blank)
        .unwrap();
    let small = dir.path().join("small.png");
    classic_cv::Image::from_fn(320, 240, |_, _| 0.5)
        .save_png(&small)
        .unwrap();
    let (blank, small) = (blank.to_str().unwrap(), small.to_str().unwrap());
    let base = ["stereo-calibrate", "--board", "9x6", "--square", "0.025"];
    fn with<'a>(base: &[&'a str], l: &[&'a str], r: &[&'a str]) -> Vec<&'a str> {
        let mut a: Vec<&str> = base.to_vec();
        a.push("--left");
        a.extend(l);
        a.push("--right");
        a.extend(r);
        a
    }
    let l: Vec<&str> = left.iter().map(|s| s.as_str()).collect();
    let r: Vec<&str> = right.iter().map(|s| s.as_str()).collect();
    // Unequal numbers of images.
    run_refused(
        &with(&base, &l[..3], &r[..2]),
        2,
        "--left has 3 image(s) but --right has 2",
    );
    // A pair with the board in one image only is skipped with a warning...
    let (code, out, err) =
        crate::cli::classic_cv(&with(&base, &l[..5], &[r[0], r[1], blank, r[3], r[4]]));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("skipped pair 3") && err.contains("blank.png"),
        "{err}"
    );
    assert!(out.contains("pairs: 4 (1 skipped)"), "{out}");
    // ...and fewer than 3 pairs left is an error.
    run_refused(
        &with(&base, &l[..3], &[r[0], blank, r[2]]),
        1,
        "at least 3 views",
    );
    run_refused(
        &with(
            &base,
            &[l[0], l[1], blank, l[3]],
            &[r[0], blank, r[2], r[3]],
        ),
        1,
        "at least 3 pairs",
    );
    // Photos of different sizes.
    run_refused(
        &with(&base, &l[..3], &[r[0], r[1], small]),
        1,
        "must have one size",
    );
}
