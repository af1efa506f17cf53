//! HOG against scikit-image 0.26's `skimage.feature.hog` (references in `tests/data`, made
//! by scikit-image on the synthetic 8-bit image below), and the `hog` command.

use std::path::PathBuf;
use std::process::Command;

use classic_cv::Image;
use classic_cv::features::hog::{BlockNorm, Hog};
use classic_cv::pipeline::Transform;

/// The 70x53 test image: `(x * 37 + y * 91 + (x * y * 13) % 97) % 256` as 8-bit pixels
/// (the same formula produced scikit-image's references).
fn synthetic() -> Image {
    Image::from_fn(70, 53, |x, y| {
        ((x * 37 + y * 91 + (x * y * 13) % 97) % 256) as f32 / 255.0
    })
}

fn reference(name: &str) -> Vec<f32> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn hog_equals_scikit_image() {
    let cases = [
        ("hog_skimage_default.f32", Hog::default()),
        (
            "hog_skimage_o12_c7_b2_l1sqrt.f32",
            Hog {
                orientations: 12,
                cell: 7,
                block: 2,
                block_norm: BlockNorm::L1Sqrt,
                transform_sqrt: false,
            },
        ),
    ];
    for (file, params) in cases {
        let theirs = reference(file);
        let ours = params.transform(&synthetic()).unwrap();
        assert_eq!(ours.len(), theirs.len(), "{file}");
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst <= 1e-5, "{file}: max difference {worst}");
    }
}

#[test]
fn hog_command_writes_one_row_per_image_and_refuses_mixed_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.png");
    let b = dir.path().join("b.png");
    let small = dir.path().join("small.png");
    synthetic().save_png(&a).unwrap();
    Image::from_fn(70, 53, |x, y| ((x + y) % 7) as f32 / 7.0)
        .save_png(&b)
        .unwrap();
    Image::from_fn(30, 30, |x, _| x as f32 / 30.0)
        .save_png(&small)
        .unwrap();
    let out = dir.path().join("hog.npy");
    let bin = env!("CARGO_BIN_EXE_classic-cv");
    let run = |args: &[&std::path::Path]| Command::new(bin).arg("hog").args(args).output().unwrap();
    let ok = run(&[&a, &b, "-o".as_ref(), &out]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let m = classic_cv::npy::read(&out)
        .unwrap()
        .into_array2(&out)
        .unwrap();
    assert_eq!(m.dim(), (2, 1944));
    let first = Hog::default().transform(&synthetic()).unwrap();
    assert_eq!(m.row(0).to_vec(), first);

    let mixed = dir.path().join("mixed.npy");
    let bad = run(&[&a, &small, "-o".as_ref(), &mixed]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("small.png") && err.contains("one size"),
        "{err}"
    );
    assert!(!mixed.exists());
}
