//! Codebooks and encodings against VLFeat's reference outputs (../shared/anchors/vlfeat/out).

use std::path::PathBuf;

use classic_cv::Error;
use classic_cv::encode::kmeans::{KMeansAlgorithm, KMeansInit, KMeansParams, quantize};
use ndarray::Array2;

/// VLFeat's anchor outputs.
pub fn anchors() -> PathBuf {
    crate::locate::anchors("vlfeat/out")
}

/// A raw little-endian f32 file as an `n x dim` matrix.
fn read_f32(name: &str, dim: usize) -> Array2<f32> {
    let bytes = std::fs::read(anchors().join(name)).unwrap();
    let v: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Array2::from_shape_vec((v.len() / dim, dim), v).unwrap()
}

fn read_u32(name: &str) -> Vec<u32> {
    let bytes = std::fs::read(anchors().join(name)).unwrap();
    bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// 20 Lloyd iterations from VLFeat's k-means++ centres end at VLFeat's energy.
fn lloyd_matches_vlfeat(k: usize, expected: f64, algorithm: KMeansAlgorithm) -> Array2<f32> {
    let x = read_f32("descriptors_100k.f32", 128);
    assert_eq!(x.nrows(), 100_000);
    let init = read_f32(&format!("kmeans_k{k}_init_pp.f32"), 128);
    let m = KMeansParams {
        k,
        init: KMeansInit::Given(init),
        algorithm,
        max_iter: 20,
        tol: 0.0,
        ..Default::default()
    }
    .fit_array(x.view())
    .unwrap();
    assert_eq!(m.n_iter, 20);
    assert_eq!(m.energies.len(), 21);
    let rel = (m.energy() - expected).abs() / expected;
    assert!(
        rel < 1e-4,
        "K={k}: energy {} vs VLFeat {expected} (rel {rel:e}); trace {:?}",
        m.energy(),
        m.energies
    );
    m.centres
}

#[test]
fn kmeans_k256_lloyd_and_hamerly_match_vlfeat_energy() {
    let lloyd = lloyd_matches_vlfeat(256, 25711.17, KMeansAlgorithm::Lloyd);
    let hamerly = lloyd_matches_vlfeat(256, 25711.17, KMeansAlgorithm::Hamerly);
    // Same centres up to float ties (VLFeat's own Elkan ends 1e-6 relative from its Lloyd).
    let diff = (&lloyd - &hamerly)
        .mapv(f32::abs)
        .fold(0f32, |m, &v| m.max(v));
    assert!(diff < 1e-3, "max centre difference {diff}");
}

#[test]
fn kmeans_k1024_lloyd_matches_vlfeat_energy() {
    lloyd_matches_vlfeat(1024, 21460.31, KMeansAlgorithm::Lloyd);
}

fn astronaut() -> (Array2<f32>, Array2<f32>, Vec<u32>) {
    let x = read_f32("astronaut_dsift_s4_b8_flat.f32", 128);
    let c = read_f32("kmeans_k256_lloyd_centers.f32", 128);
    let a = read_u32("vlad_astronaut_k256_assignments.u32");
    assert_eq!((x.nrows(), c.nrows(), a.len()), (14884, 256, 14884));
    (x, c, a)
}

#[test]
fn vlad_reproduces_vlfeat_for_all_flag_variants() {
    use classic_cv::encode::vlad::{VladNormalization, vlad_encode};
    let (x, c, a) = astronaut();
    let variants = [
        ("plain", false, false),
        ("nc", true, false),
        ("sqrt", false, true),
        ("sqrt_nc", true, true),
    ];
    for (name, nc, sqrt) in variants {
        let expected = read_f32(&format!("vlad_astronaut_k256_{name}.f32"), 128);
        let norm = VladNormalization {
            normalize_components: nc,
            square_root: sqrt,
            ..Default::default()
        };
        let v = vlad_encode(x.view(), c.view(), &a, norm).unwrap();
        let diff = v
            .iter()
            .zip(expected.iter())
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(diff <= 1e-5, "{name}: max difference {diff}");
    }
}

#[test]
fn quantize_agrees_with_vlfeat_assignments() {
    let (x, c, a) = astronaut();
    let q = quantize(x.view(), c.view()).unwrap();
    // Disagreements are allowed only at float ties: the distances must then agree.
    let mut differ = 0;
    for (i, (&ours, &theirs)) in q.labels.iter().zip(&a).enumerate() {
        if ours != theirs {
            differ += 1;
            let row = x.row(i);
            let d = |j: u32| -> f32 {
                row.iter()
                    .zip(c.row(j as usize).iter())
                    .map(|(p, q)| (p - q) * (p - q))
                    .sum()
            };
            assert!((d(ours) - d(theirs)).abs() <= 1e-5, "row {i}");
        }
    }
    assert!(differ <= 20, "{differ} assignments differ");
}

#[test]
fn encoders_handle_bad_and_empty_input() {
    use classic_cv::encode::bovw::BovwParams;
    use classic_cv::encode::encoder::LocalFeatures;
    use classic_cv::encode::vlad::VladParams;
    use classic_cv::pipeline::{Fit, Transform};
    let (x, _, _) = astronaut();
    let image = LocalFeatures {
        descriptors: x
            .slice_axis(ndarray::Axis(0), ndarray::Slice::from(0..400))
            .to_owned(),
        positions: (0..400)
            .map(|i| [(i % 20) as f32 * 25.0, (i / 20) as f32 * 25.0])
            .collect(),
        width: 512,
        height: 512,
    };
    let kmeans = KMeansParams {
        k: 8,
        max_iter: 5,
        ..Default::default()
    };
    let vlad = VladParams {
        kmeans: kmeans.clone(),
        ..Default::default()
    }
    .fit(std::slice::from_ref(&image), &[0])
    .unwrap();
    let bovw = BovwParams {
        kmeans: kmeans.clone(),
        pyramid: vec![1, 2, 4],
        ..Default::default()
    }
    .fit(std::slice::from_ref(&image), &[0])
    .unwrap();
    // An image without keypoints encodes to zeros, not an error or NaN.
    let empty = LocalFeatures {
        descriptors: Array2::zeros((0, 128)),
        positions: vec![],
        width: 512,
        height: 512,
    };
    assert_eq!(vlad.transform(&empty).unwrap(), vec![0.0; 8 * 128]);
    assert_eq!(bovw.transform(&empty).unwrap(), vec![0.0; 8 * 21]);
    // Dimension mismatch between descriptors and codebook.
    let short = LocalFeatures {
        descriptors: Array2::zeros((3, 64)),
        positions: vec![[0.0, 0.0]; 3],
        ..empty.clone()
    };
    assert!(matches!(
        vlad.transform(&short),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        bovw.transform(&short),
        Err(Error::DimensionMismatch { .. })
    ));
    // NaN descriptors.
    let mut nan = image.clone();
    nan.descriptors[[7, 3]] = f32::NAN;
    assert!(matches!(vlad.transform(&nan), Err(Error::NonFinite { .. })));
    assert!(matches!(bovw.transform(&nan), Err(Error::NonFinite { .. })));
    // k larger than the pooled descriptors; empty pools.
    let too_many = VladParams {
        kmeans: KMeansParams {
            k: 401,
            ..kmeans.clone()
        },
        ..Default::default()
    };
    assert!(matches!(
        too_many.fit(std::slice::from_ref(&image), &[0]),
        Err(Error::InvalidParam { name: "k", .. })
    ));
    assert!(matches!(
        VladParams::default().fit(std::slice::from_ref(&empty), &[0]),
        Err(Error::EmptyInput { .. })
    ));
    // Ragged descriptor dimensions across images.
    assert!(matches!(
        VladParams::default().fit(&[image.clone(), short], &[0, 0]),
        Err(Error::DimensionMismatch { .. })
    ));
}

/// VLFeat 0.9.21's `vl_homogeneouskernelmap_evaluate_d` on a few values (generated with the
/// system libvl by a 30-line C program; see `tests/data/homkermap_vlfeat.json`). VLFeat
/// interpolates a table, we evaluate the closed form: they agree to the table's error.
#[test]
fn homkermap_matches_vlfeat() {
    use classic_cv::encode::homkermap::{HomKerMap, HomKernel, HomWindow};
    use classic_cv::pipeline::Transform;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/homkermap_vlfeat.json");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(rows.len(), 144);
    let mut worst = 0f64;
    for r in &rows {
        let kernel = match r["kernel"].as_str().unwrap() {
            "Intersection" => HomKernel::Intersection,
            "Chi2" => HomKernel::Chi2,
            _ => HomKernel::JensenShannon,
        };
        let window = match r["window"].as_str().unwrap() {
            "Uniform" => HomWindow::Uniform,
            _ => HomWindow::Rectangular,
        };
        let map = HomKerMap {
            kernel,
            window,
            order: r["order"].as_u64().unwrap() as usize,
            ..Default::default()
        };
        let x = r["x"].as_f64().unwrap();
        let ours = map.transform(&vec![x as f32]).unwrap();
        let theirs: Vec<f64> = r["psi"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(ours.len(), theirs.len());
        // Errors relative to the size of the map, sqrt(x).
        for (a, b) in ours.iter().zip(&theirs) {
            worst = worst.max((*a as f64 - b).abs() / x.sqrt());
        }
    }
    // Observed: 3.7e-4 (the interpolation error of VLFeat's table).
    assert!(worst < 1e-3, "worst relative difference {worst}");
}

/// `vl_fisher_encode` (libvl 0.9.21) of astronaut descriptors 2000..2500 under a K=8 GMM that
/// `vl_gmm` fitted on descriptors 0..2000; the GMM and both encodings are in `tests/data`.
#[test]
fn fisher_matches_vlfeat_for_the_same_mixture() {
    use classic_cv::encode::fisher::fisher_encode;
    use classic_cv::encode::gmm::{Gmm, GmmParams};
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let raw = |name: &str| -> Vec<f32> {
        std::fs::read(data.join(name))
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    let gmm = Gmm {
        params: GmmParams::default(),
        means: Array2::from_shape_vec((8, 128), raw("fisher_gmm_k8_means.f32")).unwrap(),
        variances: Array2::from_shape_vec((8, 128), raw("fisher_gmm_k8_covariances.f32")).unwrap(),
        priors: raw("fisher_gmm_k8_priors.f32"),
        log_likelihoods: vec![],
        n_iter: 0,
        converged: false,
    };
    let x = read_f32("astronaut_dsift_s4_b8_flat.f32", 128);
    let x = x.slice_axis(ndarray::Axis(0), ndarray::Slice::from(2000..2500));
    for (name, improved) in [("plain", false), ("improved", true)] {
        let ours = fisher_encode(x, &gmm, improved).unwrap();
        let theirs = raw(&format!("fisher_k8_{name}.f32"));
        let diff = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        // Observed: 1.0e-5 (plain); VLFeat accumulates in f32.
        assert!(diff < 5e-5, "{name}: max difference {diff}");
    }
}
