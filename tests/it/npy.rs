//! `.npy` interop: files written by NumPy 2.4 (`tests/data/numpy_*.npy`, made with
//! `np.save`) read correctly, and what we write is byte-identical to what NumPy writes.

use std::path::{Path, PathBuf};

use classic_cv::npy::{self, NpyArray, NpyData};

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn reads_numpy_files() {
    let a = npy::read(golden("numpy_f32_2x3.npy")).unwrap();
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.data, NpyData::F32(vec![0.5, -1.25, 3.0, 1e-7, 2.0, -0.0]));
    let a = npy::read(golden("numpy_u8_4.npy")).unwrap();
    assert_eq!(a.data, NpyData::U8(vec![0, 1, 254, 255]));
    let p = golden("numpy_i64_labels.npy");
    assert_eq!(
        npy::read(&p).unwrap().into_u32(&p).unwrap(),
        vec![3, 0, 9, 1]
    );
    // np.asfortranarray(np.arange(6.).reshape(3, 2)) reads back in C order.
    let p = golden("numpy_f64_fortran_3x2.npy");
    let m = npy::read(&p).unwrap().into_array2(&p).unwrap();
    assert_eq!(m, ndarray::array![[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]);
}

#[test]
fn writes_what_numpy_writes() {
    let dir = tempfile::tempdir().unwrap();
    for (name, array) in [
        (
            "numpy_f32_2x3.npy",
            NpyArray {
                shape: vec![2, 3],
                data: NpyData::F32(vec![0.5, -1.25, 3.0, 1e-7, 2.0, -0.0]),
            },
        ),
        (
            "numpy_u8_4.npy",
            NpyArray {
                shape: vec![4],
                data: NpyData::U8(vec![0, 1, 254, 255]),
            },
        ),
    ] {
        let ours = dir.path().join(name);
        npy::write(&ours, &array).unwrap();
        assert_eq!(
            std::fs::read(&ours).unwrap(),
            std::fs::read(golden(name)).unwrap(),
            "{name}"
        );
    }
    assert!(npy::read(Path::new("/no/such.npy")).is_err());
}
