//! The command-line shell: exit codes and one-line errors.

use std::process::Command;

fn classic_cv(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_classic-cv"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, err) = classic_cv(&["no-such-command"]);
    assert_eq!(code, 2);
    assert!(err.contains("unrecognized subcommand"), "{err}");
    let (code, _, _) = classic_cv(&["--threads", "x", "demo"]);
    assert_eq!(code, 2);
}

#[test]
fn runtime_errors_exit_1_with_one_line() {
    let (code, _, err) = classic_cv(&["--threads", "0", "demo"]);
    assert_eq!(code, 1);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn verify_on_an_empty_cache_fails_and_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = classic_cv(&["--json", "fetch-data", "--dir", d, "--verify"]);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(
        v["files"].as_array().unwrap().len(),
        classic_cv::fetch::MANIFEST.len()
    );
    assert!(err.contains("missing or corrupted"), "{err}");
}
