//! Hostile input: every input is crafted here (never a committed blob), and every run must
//! end in exit 1 (2 for usage errors) with one line naming the input and the problem,
//! within seconds, without touching any input or unrelated file, and leaving no temp file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use classic_cv::Image;
use classic_cv::npy::{self, NpyArray, NpyData};

use crate::locate::cache;

/// Runs the binary in `dir` with a 60-second guard; returns (code, stdout, stderr).
fn run_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_classic-cv"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{args:?} took {:?}",
        start.elapsed()
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A file's bytes and modification time, to check that it was not touched.
fn snapshot(p: &Path) -> (Vec<u8>, SystemTime) {
    (
        std::fs::read(p).unwrap(),
        std::fs::metadata(p).unwrap().modified().unwrap(),
    )
}

/// No temp file (`.NAME.PID-N.tmp`) is left in `dir`.
fn assert_no_temps(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "temp file left behind: {name}");
    }
}

/// Asserts the exit code and a one-line message that contains every `needles`.
#[track_caller]
fn expect(res: (i32, String, String), code: i32, needles: &[&str]) {
    let (c, _, err) = res;
    assert_eq!(c, code, "exit code; stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("warning:")).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` missing from: {err}");
    }
    assert!(
        !err.contains("internal error"),
        "a panic is a bug, not an answer: {err}"
    );
}

/// A scratch directory with a 64x48 gray photo `photo.png`.
fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo.png");
    Image::from_fn(64, 48, |x, y| ((x * 7 + y * 3) % 64) as f32 / 63.0)
        .save_png(&photo)
        .unwrap();
    (dir, photo)
}

fn cascade() -> String {
    let p = cache().join("opencv/lbpcascades/lbpcascade_frontalface.xml");
    assert!(
        p.exists(),
        "{} missing: run `classic-cv fetch-data`",
        p.display()
    );
    p.to_string_lossy().into_owned()
}

fn nested_xml(root: &str, depth: usize) -> String {
    format!(
        "<?xml version=\"1.0\"?><{root}>{}{}</{root}>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    )
}

#[test]
fn a_forgotten_output_name_never_overwrites_the_photo() {
    let (dir, photo) = scratch();
    let d = dir.path();
    let before = snapshot(&photo);
    let (code, out, err) = run_in(
        d,
        &["detect", "--cascade", &cascade(), "--json", "photo.png"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"image\":\"photo.png\""), "{out}");
    assert_eq!(snapshot(&photo), before);
    // The output file is refused when it is an input, and the photo stays as it was.
    expect(
        run_in(
            d,
            &[
                "detect",
                "--cascade",
                &cascade(),
                "-o",
                "photo.png",
                "photo.png",
            ],
        ),
        2,
        &["photo.png", "also an input"],
    );
    assert_eq!(snapshot(&photo), before);
    assert_no_temps(d);
}

#[test]
fn a_failing_detect_leaves_an_existing_output_alone() {
    let (dir, _) = scratch();
    let d = dir.path();
    std::fs::write(d.join("out.json"), b"precious\n").unwrap();
    let before = snapshot(&d.join("out.json"));
    for args in [
        vec![
            "detect",
            "--cascade",
            &cascade(),
            "-o",
            "out.json",
            "photo.png",
            "missing.png",
        ],
        vec![
            "detect",
            "--cascade",
            &cascade(),
            "--json",
            "out.json",
            "photo.png",
            "missing.png",
        ],
    ] {
        expect(run_in(d, &args), 1, &["missing.png"]);
        assert_eq!(snapshot(&d.join("out.json")), before);
    }
    // The deprecated spelling still writes the file, with a warning.
    let (code, _, err) = run_in(
        d,
        &[
            "detect",
            "--cascade",
            &cascade(),
            "--json",
            "new.json",
            "photo.png",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("deprecated"), "{err}");
    assert!(
        std::fs::read_to_string(d.join("new.json"))
            .unwrap()
            .contains("photo.png")
    );
    assert_no_temps(d);
}

#[test]
fn a_failing_command_writes_none_of_its_outputs() {
    let (dir, _) = scratch();
    let d = dir.path();
    expect(
        run_in(
            d,
            &[
                "dsift",
                "-o",
                "ok.npy",
                "--keypoints-out",
                "missing/dir/f.npy",
                "photo.png",
            ],
        ),
        1,
        &["missing/dir/f.npy"],
    );
    assert!(!d.join("ok.npy").exists());
    std::fs::write(d.join("ok.npy"), b"old").unwrap();
    let before = snapshot(&d.join("ok.npy"));
    expect(
        run_in(
            d,
            &[
                "dsift",
                "-o",
                "ok.npy",
                "--keypoints-out",
                "missing/dir/f.npy",
                "photo.png",
            ],
        ),
        1,
        &["missing/dir/f.npy"],
    );
    assert_eq!(snapshot(&d.join("ok.npy")), before);
    assert_no_temps(d);
}

#[test]
fn outputs_that_are_not_regular_files_are_refused() {
    let (dir, _) = scratch();
    let d = dir.path();
    let fifo = d.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::fs::create_dir(d.join("adir")).unwrap();
    std::os::unix::fs::symlink(&fifo, d.join("link")).unwrap();
    for (target, what) in [
        ("/dev/null", "character device"),
        ("fifo", "FIFO"),
        ("link", "FIFO"),
        ("adir", "directory"),
    ] {
        expect(
            run_in(d, &["dsift", "-o", target, "photo.png"]),
            2,
            &[target, what, "refusing"],
        );
    }
    assert!(
        std::fs::symlink_metadata(d.join("link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // The library's writer refuses too.
    let e = classic_cv::persist::write_atomic(&fifo, b"x").unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    assert_no_temps(d);
}

/// A signal in the middle of a write leaves no temp file and no output.
#[test]
fn signals_leave_nothing_behind() {
    let (dir, _) = scratch();
    let d = dir.path();
    for (sig, code) in [("INT", 130), ("TERM", 143)] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_classic-cv"))
            .args([
                "detect",
                "--cascade",
                &cascade(),
                "--raw",
                "32x32",
                "-o",
                "frames.json",
            ])
            .current_dir(d)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the output's temp file exists (the stream is open, stdin is idle).
        let start = Instant::now();
        let has_temp = || {
            std::fs::read_dir(d)
                .unwrap()
                .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp"))
        };
        while !has_temp() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no temp file appeared"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Keep the stream open while the signal arrives (`wait` would close it).
        let stdin = child.stdin.take();
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args([&format!("-{sig}"), &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = child.wait().unwrap();
        drop(stdin);
        assert_eq!(status.code(), Some(code), "SIG{sig}");
        assert_no_temps(d);
        assert!(!d.join("frames.json").exists());
    }
}

#[test]
fn absurd_sizes_are_refused_before_allocating() {
    let (dir, _) = scratch();
    let d = dir.path();
    for size in ["4294967295x4294967295", "100000x100000"] {
        expect(
            run_in(d, &["detect", "--cascade", &cascade(), "--raw", size]),
            2,
            &[size, "limit"],
        );
    }
    expect(
        run_in(
            d,
            &[
                "detect",
                "--cascade",
                &cascade(),
                "--scale-factor",
                "1.00001",
                "photo.png",
            ],
        ),
        2,
        &["scale_factor", "1.01"],
    );
    // The next f64 after 1: the scale list alone would never end.
    expect(
        run_in(
            d,
            &[
                "eval-detector",
                "--cascade",
                &cascade(),
                "--scale-factor",
                "1.0000000000000002",
                "--truth",
                "t.xml",
            ],
        ),
        2,
        &["scale_factor"],
    );
    for m in ["1e-30", "1e-8"] {
        expect(
            run_in(
                d,
                &[
                    "dsift",
                    "--scales",
                    "4,6",
                    "--magnif",
                    m,
                    "-o",
                    "d.npy",
                    "photo.png",
                ],
            ),
            2,
            &["magnif"],
        );
    }
    expect(
        run_in(
            d,
            &["--threads", "100000", "dsift", "-o", "d.npy", "photo.png"],
        ),
        2,
        &["--threads 100000"],
    );
    assert!(!d.join("d.npy").exists());
}

/// A JPEG of 16x16 whose header claims `w x h`, and one cut before its end.
fn jpegs(d: &Path) {
    let mut buf = std::io::Cursor::new(Vec::new());
    image::GrayImage::from_fn(16, 16, |x, y| image::Luma([(x * 16 + y) as u8]))
        .write_to(&mut buf, image::ImageFormat::Jpeg)
        .unwrap();
    let good = buf.into_inner();
    std::fs::write(d.join("cut.jpg"), &good[..good.len() - 4]).unwrap();
    let mut bomb = good.clone();
    let sof = bomb.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bomb[sof + 5..sof + 7].copy_from_slice(&20000u16.to_be_bytes());
    bomb[sof + 7..sof + 9].copy_from_slice(&20000u16.to_be_bytes());
    std::fs::write(d.join("bomb.jpg"), bomb).unwrap();
    // A PNG header claiming 20000x20000 (valid signature and IHDR checksum).
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&20000u32.to_be_bytes());
    ihdr.extend_from_slice(&20000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut crc = flate2::Crc::new();
    crc.update(&ihdr);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc.sum().to_be_bytes());
    for (kind, body) in [
        (&b"IDAT"[..], &b"\x78\x9c\x03\x00\x00\x00\x00\x01"[..]),
        (b"IEND", b""),
    ] {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(body);
        png.extend_from_slice(&(body.len() as u32).to_be_bytes());
        png.extend_from_slice(kind);
        png.extend_from_slice(body);
        png.extend_from_slice(&crc.sum().to_be_bytes());
    }
    std::fs::write(d.join("bomb.png"), png).unwrap();
}

#[test]
fn image_bombs_and_truncated_images_are_errors_naming_the_file() {
    let (dir, _) = scratch();
    let d = dir.path();
    jpegs(d);
    for f in ["bomb.jpg", "bomb.png"] {
        expect(run_in(d, &["dsift", "-o", "d.npy", f]), 1, &[f, "limit"]);
        expect(
            run_in(d, &["detect", "--cascade", &cascade(), f]),
            1,
            &[f, "limit"],
        );
    }
    expect(
        run_in(d, &["dsift", "-o", "d.npy", "cut.jpg"]),
        1,
        &["cut.jpg", "truncated"],
    );
    // The limit is a flag.
    expect(
        run_in(
            d,
            &["--max-pixels", "100", "dsift", "-o", "d.npy", "photo.png"],
        ),
        1,
        &["photo.png", "64x48"],
    );
    assert!(!d.join("d.npy").exists());
}

#[test]
fn deeply_nested_xml_is_an_error_in_every_reader() {
    let (dir, _) = scratch();
    let d = dir.path();
    std::fs::write(d.join("deep.xml"), nested_xml("opencv_storage", 15_000)).unwrap();
    std::fs::write(d.join("deep-truth.xml"), nested_xml("dataset", 15_000)).unwrap();
    expect(
        run_in(d, &["detect", "--cascade", "deep.xml", "photo.png"]),
        1,
        &["deep.xml", "nests"],
    );
    expect(
        run_in(
            d,
            &[
                "eval-detector",
                "--cascade",
                &cascade(),
                "--truth",
                "deep-truth.xml",
            ],
        ),
        1,
        &["deep-truth.xml", "nests"],
    );
    expect(
        run_in(
            d,
            &[
                "train-cascade",
                "--positives",
                "deep-truth.xml",
                "--negatives",
                "photo.png",
                "-o",
                "c.xml",
            ],
        ),
        1,
        &["deep-truth.xml", "nests"],
    );
}

#[test]
fn empty_truth_boxes_are_errors() {
    let (dir, _) = scratch();
    let d = dir.path();
    std::fs::write(
        d.join("truth.xml"),
        "<dataset><images><image file='photo.png'><box top='1' left='1' width='0' height='5'/></image></images></dataset>",
    )
    .unwrap();
    expect(
        run_in(
            d,
            &[
                "eval-detector",
                "--cascade",
                &cascade(),
                "--truth",
                "truth.xml",
                "-o",
                "pr.png",
            ],
        ),
        1,
        &["truth.xml", "empty size"],
    );
    assert!(!d.join("pr.png").exists());
}

fn write_npy(p: &Path, shape: Vec<usize>, data: NpyData) {
    npy::write(p, &NpyArray { shape, data }).unwrap();
}

#[test]
fn absurd_labels_and_overflowing_values_are_errors() {
    let (dir, _) = scratch();
    let d = dir.path();
    write_npy(&d.join("x.npy"), vec![4, 3], NpyData::F32(vec![0.5; 12]));
    for big in [u32::MAX, 1_000_000] {
        write_npy(&d.join("y.npy"), vec![4], NpyData::U32(vec![0, 1, 0, big]));
        std::fs::write(
            d.join("cfg.json"),
            r#"{"features":{"pixels":{}},"classifier":{"linear_svm":{}}}"#,
        )
        .unwrap();
        expect(
            run_in(
                d,
                &[
                    "train",
                    "--config",
                    "cfg.json",
                    "--dataset",
                    "npy:x.npy,y.npy",
                    "-o",
                    "m.json",
                ],
            ),
            1,
            &["y.npy", &big.to_string()],
        );
    }
    write_npy(
        &d.join("huge.npy"),
        vec![4, 2],
        NpyData::F32(vec![3e38, -3e38, 2.9e38, 1.0, -3e38, 3e38, 0.0, 1e38]),
    );
    expect(
        run_in(d, &["kmeans", "huge.npy", "--clusters", "2", "-o", "c.npy"]),
        1,
        &["too large"],
    );
    assert!(!d.join("c.npy").exists());
    // Encodings of descriptors near f32::MAX: the distances (BoVW, hard or soft) or the
    // residual sums (VLAD with given assignments) would overflow.
    write_npy(
        &d.join("cb.npy"),
        vec![2, 2],
        NpyData::F32(vec![0.0, 0.0, 1.0, 1.0]),
    );
    write_npy(&d.join("a.npy"), vec![4], NpyData::U32(vec![0; 4]));
    let enc = |extra: &[&str]| {
        let mut args = vec!["encode", "-o", "e.npy", "--codebook", "cb.npy"];
        args.extend_from_slice(extra);
        run_in(d, &args)
    };
    expect(enc(&["bovw", "huge.npy"]), 1, &["too large"]);
    expect(enc(&["bovw", "huge.npy", "--soft", "1"]), 1, &["too large"]);
    expect(enc(&["vlad", "huge.npy"]), 1, &["too large"]);
    expect(
        enc(&["vlad", "huge.npy", "--assignments", "a.npy"]),
        1,
        &["non-finite", "VLAD"],
    );
    expect(
        enc(&["bovw", "huge.npy", "--pyramid", "1,2,2,2,2,2,2,2,2"]),
        2,
        &["pyramid", "levels"],
    );
    assert!(!d.join("e.npy").exists());
    assert!(!d.join("m.json").exists());
}

/// Trains a tiny pipeline through the CLI and returns its JSON model as a value.
fn tiny_pipeline(d: &Path) -> serde_json::Value {
    let x: Vec<f32> = (0..8 * 4).map(|i| ((i * 7) % 5) as f32 / 4.0).collect();
    write_npy(&d.join("x.npy"), vec![8, 4], NpyData::F32(x));
    write_npy(
        &d.join("y.npy"),
        vec![8],
        NpyData::U32(vec![0, 1, 2, 0, 1, 2, 0, 1]),
    );
    std::fs::write(
        d.join("cfg.json"),
        r#"{"features":{"pixels":{}},"classifier":{"linear_svm":{}}}"#,
    )
    .unwrap();
    let (code, _, err) = run_in(
        d,
        &[
            "train",
            "--config",
            "cfg.json",
            "--dataset",
            "npy:x.npy,y.npy",
            "-o",
            "m.json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    serde_json::from_slice(&std::fs::read(d.join("m.json")).unwrap()).unwrap()
}

/// Writes `model` edited by `edit` as an envelope without checksum (a hand-edited file).
fn edited(
    d: &Path,
    name: &str,
    mut env: serde_json::Value,
    edit: impl FnOnce(&mut serde_json::Value),
) {
    env.as_object_mut().unwrap().remove("sha256");
    edit(&mut env["model"]);
    std::fs::write(d.join(name), serde_json::to_vec(&env).unwrap()).unwrap();
}

#[test]
fn models_are_validated_on_load() {
    let (dir, _) = scratch();
    let d = dir.path();
    let env = tiny_pipeline(d);
    // A pipeline on 4 features (2x2 pixels), asked about a 64x48 photo: `predict` resizes
    // it to the model's input and says so.
    let (code, _, err) = run_in(d, &["predict", "m.json", "photo.png"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("photo.png: resized from 64x48 to 2x2"),
        "{err}"
    );
    edited(d, "no-svm.json", env.clone(), |m| {
        m["classifier"]["linear_svm"]["classifiers"] = serde_json::json!([]);
    });
    expect(
        run_in(d, &["predict", "no-svm.json", "photo.png"]),
        1,
        &["no-svm.json", "classifiers"],
    );
    edited(d, "no-names.json", env.clone(), |m| {
        m["class_names"] = serde_json::json!(["only one"])
    });
    expect(
        run_in(d, &["predict", "no-names.json", "photo.png"]),
        1,
        &["no-names.json", "class names"],
    );
    edited(d, "classes.json", env.clone(), |m| {
        m["classifier"]["linear_svm"]["n_classes"] = serde_json::json!(1e15 as u64);
    });
    expect(
        run_in(d, &["predict", "classes.json", "photo.png"]),
        1,
        &["classes.json", "classes"],
    );
    // The wrong kind of model is named as such.
    let mut wrong = env.clone();
    wrong["kind"] = serde_json::json!("kmeans");
    std::fs::write(d.join("kind.json"), serde_json::to_vec(&wrong).unwrap()).unwrap();
    expect(
        run_in(d, &["predict", "kind.json", "photo.png"]),
        1,
        &["kind.json", "kmeans"],
    );

    // A tiny CNN, then the same with a broken class count and input spread.
    let imgs: Vec<Image> = (0..4)
        .map(|i| Image::from_fn(6, 6, |x, _| ((x + i) % 3) as f32 / 2.0))
        .collect();
    let params = classic_cv::cnn::CnnParams {
        layers: vec![classic_cv::cnn::network::LayerSpec::Dense { out_features: 2 }],
        epochs: 1,
        ..Default::default()
    };
    let cnn = classic_cv::pipeline::Fit::fit(&params, &imgs, &[0, 1, 0, 1]).unwrap();
    classic_cv::persist::save(d.join("cnn.json"), &cnn).unwrap();
    let env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("cnn.json")).unwrap()).unwrap();
    for (name, field, value) in [
        ("c0.json", "n_classes", serde_json::json!(0)),
        ("c1.json", "n_classes", serde_json::json!(1e15 as u64)),
        ("s0.json", "input_std", serde_json::json!(0.0)),
    ] {
        edited(d, name, env.clone(), |m| m[field] = value);
        expect(run_in(d, &["predict", name, "photo.png"]), 1, &[name]);
    }
}

#[test]
fn configs_and_flags_are_checked() {
    let (dir, _) = scratch();
    let d = dir.path();
    std::fs::write(d.join("relu.json"), r#"{"layers":["relu"]}"#).unwrap();
    expect(
        run_in(d, &["cnn", "train", "--config", "relu.json", "-o", "m.bin"]),
        1,
        &["relu.json", "no trainable parameter"],
    );
    std::fs::write(
        d.join("wide.json"),
        r#"{"layers":[{"dense":{"out_features":100000000000}}]}"#,
    )
    .unwrap();
    expect(
        run_in(d, &["cnn", "train", "--config", "wide.json", "-o", "m.bin"]),
        1,
        &["wide.json"],
    );
    std::fs::write(d.join("epochs.json"), r#"{"epochs":1000000000000}"#).unwrap();
    expect(
        run_in(
            d,
            &["cnn", "train", "--config", "epochs.json", "-o", "m.bin"],
        ),
        1,
        &["epochs.json", "epochs"],
    );
    expect(
        run_in(d, &["detect", "--cascade", &cascade(), "--raw", "160"]),
        2,
        &["--raw 160"],
    );
    expect(
        run_in(d, &["dsift", "--size", "0x0", "-o", "d.npy", "photo.png"]),
        2,
        &["--size 0x0"],
    );
    expect(
        run_in(d, &["dsift", "--step", "abc", "-o", "d.npy", "photo.png"]),
        2,
        &["abc"],
    );
    for (w, needle) in [("0x0", "--window 0x0"), ("2x2", "3 to 256")] {
        expect(
            run_in(
                d,
                &[
                    "train-cascade",
                    "--window",
                    w,
                    "--positives",
                    "p.xml",
                    "--negatives",
                    "n",
                    "-o",
                    "c.xml",
                ],
            ),
            2,
            &[needle],
        );
    }
    write_npy(
        &d.join("desc.npy"),
        vec![2, 2],
        NpyData::F32(vec![0.0, 1.0, 1.0, 0.0]),
    );
    std::fs::write(d.join("frames.f32"), [0u8; 16]).unwrap();
    expect(
        run_in(
            d,
            &[
                "encode",
                "vlad",
                "desc.npy",
                "--codebook",
                "desc.npy",
                "--keypoints",
                "frames.f32",
                "--keypoints-dim",
                "0",
                "-o",
                "e.npy",
            ],
        ),
        1,
        &["frames.f32", "--keypoints-dim"],
    );
    assert!(!d.join("m.bin").exists() && !d.join("e.npy").exists());
}

#[test]
fn depth_frames_must_be_16_bit() {
    let (dir, _) = scratch();
    let d = dir.path();
    Image::from_fn(1, 1, |_, _| 0.5)
        .save_png(d.join("one.png"))
        .unwrap();
    for f in ["photo.png", "one.png"] {
        expect(
            run_in(d, &["bodyparts", "segment", "f.bin", f, "-o", "seg.png"]),
            1,
            &[f, "16-bit"],
        );
    }
    assert!(!d.join("seg.png").exists());
}

/// Every command's output flag refuses a path that is also one of its inputs (or that
/// exists and is not what the command writes there) with a usage error, before any output
/// is opened: one entry per command, the protected file named last.
#[test]
fn every_output_flag_refuses_an_input() {
    use classic_cv::geometry::camera::{Camera, Distortion, Intrinsics};
    let (dir, photo) = scratch();
    let d = dir.path();
    std::fs::copy(&photo, d.join("right.png")).unwrap();
    write_npy(&d.join("x.npy"), vec![4, 2], NpyData::F32(vec![0.5; 8]));
    write_npy(&d.join("y.npy"), vec![4], NpyData::U32(vec![0, 1, 0, 1]));
    std::fs::write(d.join("grid.json"), "[]").unwrap();
    std::fs::create_dir_all(d.join("cmp")).unwrap();
    std::fs::write(d.join("cmp/table.json"), "{}").unwrap();
    std::fs::create_dir_all(d.join("frames")).unwrap();
    std::fs::write(d.join("frames/00000_depth.png"), "not yet read").unwrap();
    std::fs::create_dir_all(d.join("rep")).unwrap();
    std::fs::write(d.join("rep/00000_pred.png"), "a forest by that name").unwrap();
    std::fs::write(d.join("H.json"), r#"{"H":[[1,0,0],[0,1,0],[0,0,1]]}"#).unwrap();
    std::fs::write(
        d.join("q.json"),
        "[[1,0,0,-32],[0,1,0,-24],[0,0,0,100],[0,0,1,0]]",
    )
    .unwrap();
    let camera = Camera {
        intrinsics: Intrinsics::from_matrix(&[
            [80.0, 0.0, 32.0],
            [0.0, 80.0, 24.0],
            [0.0, 0.0, 1.0],
        ])
        .unwrap(),
        distortion: Distortion::from_coefficients(&[0.0; 5]).unwrap(),
        image_size: [64, 48],
    };
    classic_cv::persist::save(d.join("cam.json"), &camera).unwrap();
    let table: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec![
                "select",
                "--grid",
                "grid.json",
                "--dataset",
                "npy:x.npy,y.npy",
                "-o",
                "x.npy",
            ],
            "x.npy",
            "input",
        ),
        (
            vec![
                "compare",
                "--dataset",
                "npy:x.npy,y.npy",
                "--config",
                "cmp/table.json",
                "--output",
                "cmp",
            ],
            "cmp/table.json",
            "input",
        ),
        (
            vec!["report", "--grid", "grid.json", "-o", "grid.json"],
            "grid.json",
            "input",
        ),
        (
            vec!["demo", "-o", "photo.png"],
            "photo.png",
            "not a directory",
        ),
        (
            vec!["bodyparts", "synth", "--count", "1", "-o", "photo.png"],
            "photo.png",
            "not a directory",
        ),
        (
            vec![
                "bodyparts",
                "train",
                "frames",
                "-o",
                "frames/00000_depth.png",
            ],
            "frames/00000_depth.png",
            "input",
        ),
        (
            vec![
                "bodyparts",
                "eval",
                "rep/00000_pred.png",
                "frames",
                "--report",
                "rep",
            ],
            "rep/00000_pred.png",
            "input",
        ),
        (
            vec![
                "bodyparts",
                "segment",
                "cam.json",
                "photo.png",
                "-o",
                "photo.png",
            ],
            "photo.png",
            "input",
        ),
        (
            vec![
                "corners",
                "--board",
                "9x6",
                "photo.png",
                "--draw",
                "photo.png",
            ],
            "photo.png",
            "not a directory",
        ),
        (
            vec!["homography", "photo.png", "right.png", "-o", "right.png"],
            "right.png",
            "input",
        ),
        (
            vec![
                "homography",
                "photo.png",
                "right.png",
                "--draw",
                "photo.png",
            ],
            "photo.png",
            "input",
        ),
        (
            vec![
                "undistort",
                "--camera",
                "cam.json",
                "photo.png",
                "-o",
                "cam.json",
            ],
            "cam.json",
            "input",
        ),
        (
            vec![
                "warp",
                "--homography",
                "H.json",
                "photo.png",
                "-o",
                "H.json",
            ],
            "H.json",
            "input",
        ),
        (
            vec![
                "birdseye",
                "--camera",
                "cam.json",
                "--plane",
                "height=1.5,pitch=10",
                "photo.png",
                "-o",
                "photo.png",
            ],
            "photo.png",
            "input",
        ),
        (
            vec!["stereo", "photo.png", "right.png", "-o", "right.png"],
            "right.png",
            "input",
        ),
        (
            vec![
                "stereo",
                "photo.png",
                "right.png",
                "-o",
                "s.npy",
                "--ply",
                "q.json",
                "--q",
                "q.json",
            ],
            "q.json",
            "input",
        ),
    ];
    for (args, protected, why) in table {
        let before = snapshot(&d.join(protected));
        expect(run_in(d, &args), 2, &[protected, why]);
        assert_eq!(snapshot(&d.join(protected)), before, "{args:?}");
    }
    assert!(!d.join("s.npy").exists());
    // Absurd amounts of work asked by a flag are usage errors too (a capacity overflow
    // panic, a run that never ends).
    for (args, needle) in [
        (
            vec![
                "warp",
                "--homography",
                "H.json",
                "photo.png",
                "-o",
                "w.png",
                "--repeat",
                "9223372036854775807",
            ],
            "--repeat",
        ),
        (
            vec![
                "undistort",
                "--camera",
                "cam.json",
                "photo.png",
                "-o",
                "w.png",
                "--repeat",
                "0",
            ],
            "--repeat",
        ),
        (
            vec![
                "bodyparts",
                "synth",
                "--count",
                "1000000000000",
                "-o",
                "synth",
            ],
            "--count",
        ),
    ] {
        expect(run_in(d, &args), 2, &[needle]);
    }
    assert!(!d.join("w.png").exists() && !d.join("synth").exists());
    assert_no_temps(d);
    assert_no_temps(&d.join("cmp"));
    assert_no_temps(&d.join("frames"));
}
