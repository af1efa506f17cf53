//! Codebooks and encodings against VLFeat's reference outputs (../shared/anchors/vlfeat/out).

use std::path::PathBuf;

use classic_cv::Error;
use classic_cv::kmeans::{KMeansAlgorithm, KMeansInit, KMeansParams, quantize};
use ndarray::Array2;

/// The VLFeat anchor outputs: `../shared` beside the checkout (a worktree under `wt/` looks
/// one level higher), or `$CLASSIC_CV_SHARED`.
pub fn anchors() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("CLASSIC_CV_SHARED").map(PathBuf::from),
        Some(root.join("../shared")),
        Some(root.join("../../shared")),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(|p| p.join("anchors/vlfeat/out"))
        .find(|p| p.join("descriptors_100k.f32").exists())
        .expect("VLFeat anchors not found: set CLASSIC_CV_SHARED to the shared directory")
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
    assert!(rel < 1e-4, "K={k}: energy {} vs VLFeat {expected} (rel {rel:e})", m.energy());
    m.centres
}

#[test]
fn kmeans_k256_lloyd_and_hamerly_match_vlfeat_energy() {
    let lloyd = lloyd_matches_vlfeat(256, 25711.17, KMeansAlgorithm::Lloyd);
    let hamerly = lloyd_matches_vlfeat(256, 25711.17, KMeansAlgorithm::Hamerly);
    // Same centres up to float ties (VLFeat's own Elkan ends 1e-6 relative from its Lloyd).
    let diff = (&lloyd - &hamerly).mapv(f32::abs).fold(0f32, |m, &v| m.max(v));
    assert!(diff < 1e-3, "max centre difference {diff}");
}
