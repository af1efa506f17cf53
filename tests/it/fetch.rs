//! `fetch-data` against the real registries: repair of a corrupted file, idempotence.

use std::path::Path;

use classic_cv::datasets::fetch::{self, FetchEvent, FileState};

use crate::locate::cache;

fn copy_tree(from: &Path, to: &Path) {
    for (rel, _) in fetch::MANIFEST {
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(from.join(rel), &dst).unwrap();
    }
}

#[test]
fn corrupted_file_is_detected_and_refetched_then_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&cache(), dir.path());
    let victim = dir
        .path()
        .join("opencv/lbpcascades/lbpcascade_frontalface.xml");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&victim, &bytes).unwrap();

    let states = fetch::verify(dir.path()).unwrap();
    let bad: Vec<_> = states.iter().filter(|(_, s)| *s != FileState::Ok).collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].0, victim);
    assert!(matches!(bad[0].1, FileState::Corrupted(_)));

    refetches_exactly(dir.path(), &victim, "opencv-data");

    // A second run downloads nothing.
    let mut events = Vec::new();
    assert_eq!(
        fetch::fetch_all(dir.path(), &mut |e| events.push(e)).unwrap(),
        0
    );
    assert!(
        events
            .iter()
            .all(|e| matches!(e, FetchEvent::UpToDate { .. }))
    );
    assert!(
        !dir.path().join(".download").exists(),
        "work files are cleaned up"
    );
}

#[test]
fn source_archive_files_are_refetched_from_pypi_when_corrupted() {
    // The held-out face photos come from face_recognition's source archive (`.tar.gz`).
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&cache(), dir.path());
    let victim = dir.path().join("faces/obama2.jpg");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[1000] ^= 0x40;
    std::fs::write(&victim, &bytes).unwrap();
    refetches_exactly(dir.path(), &victim, "face_recognition==1.3.0");
}

/// One `fetch_all` run on `dir` reports `victim` as corrupted, reinstalls exactly that one
/// file from `source`, and leaves every file verified.
fn refetches_exactly(dir: &std::path::Path, victim: &std::path::Path, source: &'static str) {
    let mut events = Vec::new();
    let written = fetch::fetch_all(dir, &mut |e| events.push(e)).unwrap();
    assert_eq!(written, 1);
    assert!(events.contains(&FetchEvent::Corrupted {
        path: victim.to_path_buf()
    }));
    assert!(events.contains(&FetchEvent::Installed { source, files: 1 }));
    assert!(
        fetch::verify(dir)
            .unwrap()
            .iter()
            .all(|(_, s)| *s == FileState::Ok)
    );
}
