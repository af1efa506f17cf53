//! Model files: round trips, and every way a file can be wrong.

use std::path::Path;

use classic_cv::learn::centroid::{NearestCentroid, NearestCentroidParams};
use classic_cv::learn::preprocess::{Standardize, StandardizeParams};
use classic_cv::pipeline::{Chain, Fit, Transform};
use classic_cv::{Error, persist};

type Toy = Chain<Standardize, NearestCentroid>;

fn toy() -> Toy {
    let (x, y) = super::conformance::blobs();
    StandardizeParams::default()
        .then(NearestCentroidParams::default())
        .fit(&x, &y)
        .unwrap()
}

#[test]
fn fitted_pipeline_round_trips_and_predicts_identically() {
    let model = toy();
    let (x, _) = super::conformance::blobs();
    let dir = tempfile::tempdir().unwrap();
    for name in ["toy.json", "toy.bin", "toy.model"] {
        let p = dir.path().join(name);
        persist::save(&p, &model).unwrap();
        let back: Toy = persist::load(&p).unwrap();
        assert_eq!(back, model);
        assert_eq!(
            back.transform_batch(&x).unwrap(),
            model.transform_batch(&x).unwrap()
        );
    }
    let json = std::fs::read_to_string(dir.path().join("toy.json")).unwrap();
    assert!(json.starts_with(
        r#"{"format":"classic-cv-model","version":1,"kind":"standardize+nearest-centroid""#
    ));
}

/// The in-memory bytes (what the Python package pickles) are the binary model file.
#[test]
fn model_bytes_are_the_binary_file_and_decode_back() {
    let model = toy();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("toy.bin");
    persist::save(&p, &model).unwrap();
    let bytes = persist::model_bytes(&model).unwrap();
    assert_eq!(bytes, std::fs::read(&p).unwrap());
    let back: Toy = persist::decode(Path::new("mem"), &bytes).unwrap();
    assert_eq!(back, model);
}

fn load_err(path: &Path) -> String {
    let e = persist::load::<Toy>(path).unwrap_err();
    e.to_string()
}

#[test]
fn truncated_files_are_errors() {
    let model = toy();
    let dir = tempfile::tempdir().unwrap();
    for name in ["t.json", "t.bin"] {
        let p = dir.path().join(name);
        persist::save(&p, &model).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        // The JSON file ends with a newline, so cutting one byte would leave it valid.
        for cut in [1, 9, 20, bytes.len() / 2, bytes.len() - 2] {
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let msg = load_err(&p);
            assert!(
                msg.contains("truncated")
                    || msg.contains("not a classic-cv model")
                    || msg.contains("malformed"),
                "{name} cut at {cut}: {msg}"
            );
        }
    }
}

#[test]
fn corrupted_files_are_detected() {
    let model = toy();
    let dir = tempfile::tempdir().unwrap();
    // Binary: flip one bit anywhere in the payload.
    let p = dir.path().join("c.bin");
    persist::save(&p, &model).unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&p, &bytes).unwrap();
    assert!(load_err(&p).contains("corrupted"));
    // JSON: change one digit of a number inside the model.
    let p = dir.path().join("c.json");
    persist::save(&p, &model).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    let at = text
        .rfind(|c: char| c.is_ascii_digit() && c != '9')
        .unwrap();
    let mut changed = text.into_bytes();
    changed[at] += 1;
    std::fs::write(&p, &changed).unwrap();
    assert!(load_err(&p).contains("corrupted"));
}

#[test]
fn other_versions_kinds_and_files_are_errors() {
    let model = toy();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v.json");
    persist::save(&p, &model).unwrap();
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("\"version\":1", "\"version\":99");
    std::fs::write(&p, text).unwrap();
    assert!(matches!(
        persist::load::<Toy>(&p),
        Err(Error::IncompatibleModel {
            found: 99,
            supported: 1,
            ..
        })
    ));

    let p = dir.path().join("k.bin");
    persist::save(&p, &model).unwrap();
    assert!(matches!(
        persist::load::<NearestCentroid>(&p),
        Err(Error::WrongModelKind { .. })
    ));

    let p = dir.path().join("other.json");
    std::fs::write(
        &p,
        r#"{"format":"something-else","version":1,"kind":"x","model":{}}"#,
    )
    .unwrap();
    assert!(load_err(&p).contains("not a classic-cv model"));
    std::fs::write(&p, b"\x89PNG\r\n\x1a\n....").unwrap();
    assert!(load_err(&p).contains("not a classic-cv model"));
    std::fs::write(&p, b"").unwrap();
    assert!(load_err(&p).contains("empty"));
    assert!(matches!(
        persist::load::<Toy>(dir.path().join("missing.bin")),
        Err(Error::Io { .. })
    ));
}

/// A model whose serialisation fails half-way, to simulate a failed write.
#[derive(Debug, PartialEq, serde::Deserialize)]
struct FailsToSerialise;

impl serde::Serialize for FailsToSerialise {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("disk full (simulated)"))
    }
}

impl persist::Model for FailsToSerialise {
    fn kind() -> String {
        "standardize+nearest-centroid".into()
    }
}

#[test]
fn failed_write_leaves_the_previous_model_intact() {
    let model = toy();
    let dir = tempfile::tempdir().unwrap();
    for name in ["keep.json", "keep.bin"] {
        let p = dir.path().join(name);
        persist::save(&p, &model).unwrap();
        assert!(persist::save(&p, &FailsToSerialise).is_err());
        assert_eq!(persist::load::<Toy>(&p).unwrap(), model);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temp files left behind");
    }
    // A directory that does not exist: the error names the path.
    let missing = dir.path().join("no/such/dir/m.bin");
    let e = persist::save(&missing, &model).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
}
