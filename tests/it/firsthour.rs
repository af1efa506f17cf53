//! A user's first hour: broken pipes, the data directory and cascades by name, `predict` on
//! images of another size, and the dense SIFT -> k-means -> encode chain over a folder.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use classic_cv::Image;
use classic_cv::npy::{self, NpyArray, NpyData};

use crate::locate::{cache, root};

/// `classic-cv args` in `cwd` with `env` set and the data variables removed; its output.
fn run(cwd: &Path, env: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_classic-cv"));
    c.args(args)
        .current_dir(cwd)
        .env_remove("CLASSIC_CV_DATA")
        .env_remove("XDG_CACHE_HOME");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `args`, reads one line of stdout and closes the pipe: the command must end quietly
/// (0, or 141 as after SIGPIPE), never with an internal error.
fn closes_quietly(cwd: &Path, args: &[&str]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_classic-cv"))
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here: the pipe is closed.
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    let code = out.status.code();
    assert!(
        matches!(code, Some(0) | Some(141)),
        "{args:?}: {code:?} {err}"
    );
    assert!(err.is_empty(), "{args:?}: {err}");
    assert!(!first.is_empty(), "{args:?}: no first line");
}

/// Two classes of 28x28 images (a bright top or bottom band) as `npy:X,Y`.
fn bands(dir: &Path, n: usize) -> String {
    let mut x = Vec::with_capacity(n * 784);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i % 2) as u32;
        for row in 0..28 {
            for col in 0..28 {
                let on = if class == 0 { row < 10 } else { row >= 18 };
                let noise = ((i * 31 + row * 7 + col * 13) % 17) as f32 / 100.0;
                x.push(if on { 0.7 } else { 0.1 } + noise);
            }
        }
        y.push(class);
    }
    let (xp, yp) = (dir.join("x.npy"), dir.join("y.npy"));
    let shape = vec![n, 28, 28];
    npy::write(
        &xp,
        &NpyArray {
            shape,
            data: NpyData::F32(x),
        },
    )
    .unwrap();
    npy::write_u32(&yp, &y).unwrap();
    format!("npy:{},{}", xp.display(), yp.display())
}

/// A k-NN on raw pixels trained on [`bands`]: the model's path.
fn pixel_model(dir: &Path) -> PathBuf {
    let spec = bands(dir, 40);
    let model = dir.join("knn.bin");
    let config = root().join("examples/configs/knn-k5-l2.json");
    let out = run(
        dir,
        &[],
        &[
            "train",
            "--config",
            config.to_str().unwrap(),
            "--dataset",
            &spec,
            "-o",
            model.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    model
}

#[test]
fn broken_pipes_end_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // `println!` (predict's lines): 4,000 lines, more than a pipe holds.
    let model = pixel_model(d);
    let png = d.join("top.png");
    Image::from_fn(28, 28, |_, y| if y < 10 { 0.8 } else { 0.1 })
        .save_png(&png)
        .unwrap();
    let mut args = vec!["predict", model.to_str().unwrap()];
    args.extend(std::iter::repeat_n(png.to_str().unwrap(), 4000));
    closes_quietly(d, &args);
    // A buffered writer with `?` (detect's JSON lines from raw frames on stdin).
    let mut child = Command::new(env!("CARGO_BIN_EXE_classic-cv"))
        .args(["detect", "--cascade", "classic-cv-face", "--raw", "24x24"])
        .current_dir(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let frame = [128u8; 24 * 24];
        for _ in 0..20_000 {
            if stdin.write_all(&frame).is_err() {
                break;
            }
        }
    });
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let err = text(&out.stderr);
    assert!(first.starts_with("{\"image\":0"), "{first}");
    assert!(matches!(out.status.code(), Some(0) | Some(141)), "{err}");
    assert!(!err.contains("error"), "{err}");
    // clap's help.
    closes_quietly(d, &["--help"]);
    closes_quietly(d, &["detect", "--help"]);
}

fn haar(name: &str) -> PathBuf {
    cache().join(format!("opencv/haarcascades/haarcascade_{name}.xml"))
}

fn astronaut() -> PathBuf {
    cache().join("skimage/astronaut.png")
}

/// `detect --json` on the astronaut with these extra arguments, from the repository root.
fn boxes(env: &[(&str, &Path)], extra: &[&str]) -> String {
    let photo = astronaut();
    let mut args = vec!["--json", "detect", photo.to_str().unwrap()];
    args.extend(extra);
    let out = run(&root(), env, &args);
    assert!(out.status.success(), "{extra:?}: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["boxes"].to_string()
}

#[test]
fn cascades_are_found_by_name_with_a_default() {
    assert!(
        haar("frontalface_default").is_file(),
        "OpenCV's cascades are missing: run `classic-cv fetch-data`"
    );
    let data: &[(&str, &Path)] = &[("CLASSIC_CV_DATA", &cache())];
    let by_path = boxes(
        data,
        &["--cascade", haar("frontalface_default").to_str().unwrap()],
    );
    assert_ne!(by_path, "[]", "the astronaut has a face");
    assert_eq!(boxes(data, &["--cascade", "frontalface_default"]), by_path);
    assert_eq!(
        boxes(data, &["--cascade", "haarcascade_frontalface_default"]),
        by_path
    );
    // No --cascade: frontalface_default.
    assert_eq!(boxes(data, &[]), by_path);
    // The built-in cascade is the committed one.
    let ours = root().join("data/models/face-cascade.xml");
    assert_eq!(
        boxes(data, &["--cascade", "classic-cv-face"]),
        boxes(data, &["--cascade", ours.to_str().unwrap()])
    );
    let alt = boxes(data, &["--cascade", "frontalface_alt2"]);
    assert_eq!(
        alt,
        boxes(
            data,
            &["--cascade", haar("frontalface_alt2").to_str().unwrap()]
        )
    );
    // An unknown name: a usage error listing the names.
    let out = run(
        &root(),
        data,
        &[
            "detect",
            "--cascade",
            "no_such_face",
            astronaut().to_str().unwrap(),
        ],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for name in [
        "no_such_face",
        "classic-cv-face",
        "frontalface_default",
        "eye",
        "profileface",
    ] {
        assert!(err.contains(name), "{name}: {err}");
    }
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn the_data_directory_follows_the_variable_the_flag_and_the_user_cache() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A data directory holding one OpenCV cascade under another name.
    let mine = d.join("mine");
    std::fs::create_dir_all(mine.join("opencv/haarcascades")).unwrap();
    std::fs::copy(
        haar("frontalface_alt"),
        mine.join("opencv/haarcascades/haarcascade_myface.xml"),
    )
    .unwrap();
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let want = boxes(
        &[],
        &["--cascade", haar("frontalface_alt").to_str().unwrap()],
    );
    assert_eq!(
        boxes(&[("CLASSIC_CV_DATA", &mine)], &["--cascade", "myface"]),
        want
    );
    // --data-dir wins over the variable.
    let m = mine.to_str().unwrap();
    assert_eq!(
        boxes(
            &[("CLASSIC_CV_DATA", &empty)],
            &["--data-dir", m, "--cascade", "myface"]
        ),
        want
    );
    // The names listed are those of the directory in use.
    let out = run(
        &root(),
        &[("CLASSIC_CV_DATA", &mine)],
        &["detect", "--cascade", "nope", "x.png"],
    );
    let err = text(&out.stderr);
    assert!(err.contains("classic-cv-face, myface"), "{err}");
    assert!(!err.contains("frontalface_default"), "{err}");
    // Outside a checkout: the per-user cache, $XDG_CACHE_HOME first, then ~/.cache.
    let home = d.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let verify = |env: &[(&str, &Path)]| -> String {
        let out = run(d, env, &["--json", "fetch-data", "--verify"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["files"][0]["path"].as_str().unwrap().to_string()
    };
    let user = home.join(".cache/classic-cv");
    assert!(
        verify(&[("HOME", &home)]).starts_with(user.to_str().unwrap()),
        "{}",
        verify(&[("HOME", &home)])
    );
    let xdg = d.join("xdg");
    assert!(
        verify(&[("HOME", &home), ("XDG_CACHE_HOME", &xdg)])
            .starts_with(xdg.join("classic-cv").to_str().unwrap())
    );
    // There, the built-in cascade is still found, and the hint says where the data goes.
    let out = run(
        d,
        &[("HOME", &home)],
        &["detect", "--cascade", "nope", "x.png"],
    );
    let err = text(&out.stderr);
    assert!(err.contains(user.to_str().unwrap()), "{err}");
    assert!(err.contains("fetch-data"), "{err}");
    let help = text(&run(d, &[], &["detect", "--help"]).stdout);
    assert!(
        help.contains("--data-dir") && help.contains("CLASSIC_CV_DATA"),
        "{help}"
    );
    assert!(help.contains("[default: frontalface_default]"), "{help}");
}

/// `predict`'s label column for these images.
fn predict(dir: &Path, model: &Path, images: &[&Path]) -> (Option<i32>, Vec<String>, String) {
    let mut args = vec!["predict", model.to_str().unwrap()];
    args.extend(images.iter().map(|p| p.to_str().unwrap()));
    let out = run(dir, &[], &args);
    let labels = text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap_or_default().to_string())
        .collect();
    (out.status.code(), labels, text(&out.stderr))
}

#[test]
fn predict_resizes_to_the_models_input_or_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = pixel_model(d);
    // 512x512 photos of each class, and the same resized by hand to 28x28.
    let mut big = Vec::new();
    let mut small = Vec::new();
    for (name, top) in [("top", true), ("bottom", false)] {
        let img = Image::from_fn(512, 512, |x, y| {
            let on = if top { y < 180 } else { y >= 330 };
            (if on { 0.75 } else { 0.1 }) + ((x * 7 + y * 3) % 11) as f32 / 100.0
        });
        let (b, s) = (
            d.join(format!("{name}.png")),
            d.join(format!("{name}28.png")),
        );
        img.save_png(&b).unwrap();
        Image::load(&b)
            .unwrap()
            .resize_bilinear(28, 28)
            .unwrap()
            .save_png(&s)
            .unwrap();
        big.push(b);
        small.push(s);
    }
    let big: Vec<&Path> = big.iter().map(|p| p.as_path()).collect();
    let small: Vec<&Path> = small.iter().map(|p| p.as_path()).collect();
    let (code, labels, err) = predict(d, &model, &big);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(labels, ["0", "1"], "{err}");
    assert!(
        err.contains("top.png: resized from 512x512 to 28x28"),
        "{err}"
    );
    let (code, by_hand, err) = predict(d, &model, &small);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(labels, by_hand);
    assert!(
        err.is_empty(),
        "images of the model's size are taken as they are: {err}"
    );

    // A model of 30 features per image (rows of an (N, D) file): no image size gives 30
    // pixels from a square, so a 512x512 image is refused, naming it and the expectation.
    let (n, dim) = (20, 30);
    let x: Vec<f32> = (0..n * dim)
        .map(|i| ((i % dim) * (i / dim % 2)) as f32 / 30.0)
        .collect();
    let y: Vec<u32> = (0..n as u32).map(|i| i % 2).collect();
    npy::write(
        d.join("x30.npy"),
        &NpyArray {
            shape: vec![n, dim],
            data: NpyData::F32(x),
        },
    )
    .unwrap();
    npy::write_u32(d.join("y30.npy"), &y).unwrap();
    let model30 = d.join("knn30.bin");
    let config = root().join("examples/configs/knn-k5-l2.json");
    let out = run(
        d,
        &[],
        &[
            "train",
            "--config",
            config.to_str().unwrap(),
            "--dataset",
            "npy:x30.npy,y30.npy",
            "-o",
            model30.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (code, _, err) = predict(d, &model30, &big[..1]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("top.png") && err.contains("512x512"), "{err}");
    assert!(err.contains("images of 30 pixels"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// `kmeans` with `extra`, 16 centres, 5 iterations, 2 threads.
fn kmeans<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["kmeans"];
    a.extend(extra);
    a.extend(["--clusters", "16", "--iters", "5", "--threads", "2"]);
    a
}

/// Reads an `.npy` matrix.
fn matrix(p: &Path) -> ndarray::Array2<f32> {
    npy::read(p).unwrap().into_array2(p).unwrap()
}

#[test]
fn dsift_kmeans_encode_chain_over_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photos = d.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for name in ["left01.jpg", "left02.jpg", "right03.jpg"] {
        let p = cache().join("opencv-doc").join(name);
        assert!(
            p.is_file(),
            "{} is missing: run `classic-cv fetch-data`",
            p.display()
        );
        std::fs::copy(&p, photos.join(name)).unwrap();
    }
    let ok = |args: &[&str]| {
        let out = run(d, &[], args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    ok(&[
        "dsift",
        "photos",
        "--step",
        "8",
        "-o",
        "desc",
        "--keypoints-out",
        "frames",
    ]);
    let stems = ["left01", "left02", "right03"];
    // The folder gives the same codebook as the descriptors pooled into one file.
    let pooled: Vec<ndarray::Array2<f32>> = stems
        .iter()
        .map(|s| matrix(&d.join(format!("desc/{s}.npy"))))
        .collect();
    let views: Vec<_> = pooled.iter().map(|m| m.view()).collect();
    let all = ndarray::concatenate(ndarray::Axis(0), &views).unwrap();
    npy::write_array2(d.join("all.npy"), &all).unwrap();
    ok(&kmeans(&["desc", "-o", "cb_dir.npy"]));
    ok(&kmeans(&["all.npy", "-o", "cb_all.npy"]));
    assert_eq!(matrix(&d.join("cb_dir.npy")), matrix(&d.join("cb_all.npy")));
    // Seeded sampling: the same seed gives the same codebook, another seed another; a
    // sample as large as the input is the input.
    let n = all.nrows().to_string();
    ok(&kmeans(&["desc", "--sample", &n, "-o", "cb_full.npy"]));
    assert_eq!(
        matrix(&d.join("cb_full.npy")),
        matrix(&d.join("cb_all.npy"))
    );
    let out = ok(&kmeans(&[
        "--json", "desc", "--sample", "500", "--seed", "7", "-o", "a.npy",
    ]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["n"].as_u64(), v["files"].as_u64()),
        (Some(500), Some(3)),
        "{v}"
    );
    assert_eq!(v["descriptors_read"].as_u64(), Some(all.nrows() as u64));
    ok(&kmeans(&[
        "desc", "--sample", "500", "--seed", "7", "-o", "b.npy",
    ]));
    ok(&kmeans(&[
        "desc", "--sample", "500", "--seed", "8", "-o", "c.npy",
    ]));
    assert_eq!(matrix(&d.join("a.npy")), matrix(&d.join("b.npy")));
    assert_ne!(matrix(&d.join("a.npy")), matrix(&d.join("c.npy")));
    // encode: one row per image, equal to encoding each image alone.
    let enc = ["--codebook", "cb_dir.npy", "--pyramid", "1,2"];
    let mut a = vec![
        "encode",
        "bovw",
        "desc",
        "--keypoints",
        "frames",
        "-o",
        "enc.npy",
    ];
    a.extend(enc);
    ok(&a);
    let rows = matrix(&d.join("enc.npy"));
    assert_eq!(rows.dim(), (3, 16 * 5));
    for (i, s) in stems.iter().enumerate() {
        let (desc, frames) = (format!("desc/{s}.npy"), format!("frames/{s}.npy"));
        let mut a = vec![
            "encode",
            "bovw",
            &desc,
            "--keypoints",
            &frames,
            "-o",
            "one.npy",
        ];
        a.extend(enc);
        ok(&a);
        assert_eq!(matrix(&d.join("one.npy")).row(0), rows.row(i), "{s}");
    }
    // Files in argument order.
    ok(&[
        "encode",
        "vlad",
        "desc/right03.npy",
        "desc/left01.npy",
        "--codebook",
        "cb_dir.npy",
        "-o",
        "v2.npy",
    ]);
    ok(&[
        "encode",
        "vlad",
        "desc",
        "--codebook",
        "cb_dir.npy",
        "-o",
        "v3.npy",
    ]);
    let (v2, v3) = (matrix(&d.join("v2.npy")), matrix(&d.join("v3.npy")));
    assert_eq!(v2.dim(), (2, 16 * 128));
    assert_eq!((v2.row(0), v2.row(1)), (v3.row(2), v3.row(0)));
}

#[test]
fn pr_curve_only_where_asked_and_drawings_keep_colour() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(astronaut(), d.join("astro.png")).unwrap();
    let data: &[(&str, &Path)] = &[("CLASSIC_CV_DATA", &cache())];
    let out = run(
        d,
        data,
        &["--json", "detect", "astro.png", "--draw", "drawn"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["boxes"].as_array().unwrap().len(), 1, "one face: {v}");
    let b: Vec<u64> = v["boxes"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    // The drawing: the photo's colours, a green box 2 pixels wide (512 / 300, rounded).
    let drawn = image::open(d.join("drawn/astro.png")).unwrap().into_rgb8();
    assert_eq!(drawn.dimensions(), (512, 512));
    let original = image::open(astronaut()).unwrap().into_rgb8();
    assert_eq!(drawn.get_pixel(5, 5), original.get_pixel(5, 5));
    assert!(
        original
            .get_pixel(5, 5)
            .0
            .iter()
            .any(|&c| c != original.get_pixel(5, 5).0[0])
    );
    let (x, y, h) = (b[0] as u32, b[1] as u32, b[3] as u32);
    let mid = y + h / 2;
    assert_eq!(drawn.get_pixel(x, mid).0, [0, 255, 0]);
    assert_eq!(drawn.get_pixel(x + 1, mid).0, [0, 255, 0]);
    assert_eq!(drawn.get_pixel(x + 2, mid), original.get_pixel(x + 2, mid));
    // A truth file with that box: no curve unless asked, then a titled 480x440 chart.
    std::fs::write(
        d.join("truth.xml"),
        format!(
            "<dataset><images><image file='astro.png'><box top='{}' left='{}' width='{}' \
             height='{}'/></image></images></dataset>",
            b[1], b[0], b[2], b[3]
        ),
    )
    .unwrap();
    let eval = |extra: &[&str]| {
        let mut a = vec!["--json", "eval-detector", "--truth", "truth.xml"];
        a.extend(extra);
        let out = run(d, data, &a);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let v = eval(&[]);
    assert_eq!(v["average_precision"].as_f64(), Some(1.0), "{v}");
    assert!(v["curve"].is_null(), "{v}");
    let pngs = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "png")
            })
            .count()
    };
    assert_eq!(pngs(d), 1, "only astro.png: nothing written unasked");
    eval(&["-o", "pr.png"]);
    // The old spelling still works, with a warning.
    let old = run(
        d,
        data,
        &[
            "eval-detector",
            "--truth",
            "truth.xml",
            "--curve",
            "pr-old.png",
        ],
    );
    assert!(old.status.success(), "{}", text(&old.stderr));
    assert!(
        text(&old.stderr).contains("warning: --curve is deprecated; use -o/--output"),
        "{}",
        text(&old.stderr)
    );
    let pr = std::fs::read(d.join("pr.png")).unwrap();
    assert_eq!(pr, std::fs::read(d.join("pr-old.png")).unwrap());
    let chart = classic_cv::plot::precision_recall_chart(&[(1.0, 1.0)], 1.0);
    let png = image::load_from_memory(&pr).unwrap().into_rgb8();
    assert_eq!(
        png.dimensions(),
        (chart.width() as u32, chart.height() as u32)
    );
    assert!(
        png.enumerate_pixels()
            .all(|(x, y, p)| p.0 == chart.pixel(x as usize, y as usize))
    );
}

/// Reads a PNG as RGB.
fn rgb(p: &Path) -> image::RgbImage {
    image::open(p).unwrap().into_rgb8()
}

#[test]
fn drawings_have_unique_names_and_mark_matches() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for sub in ["a", "b"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
        std::fs::copy(astronaut(), d.join(sub).join("astro.png")).unwrap();
    }
    let data: &[(&str, &Path)] = &[("CLASSIC_CV_DATA", &cache())];
    // Two inputs with one stem: astro.png and astro-2.png, in input order.
    let out = run(
        d,
        data,
        &[
            "--json",
            "detect",
            "a/astro.png",
            "b/astro.png",
            "--draw",
            "drawn",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    let b: Vec<u32> = first["boxes"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    let mut names: Vec<String> = std::fs::read_dir(d.join("drawn"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["astro-2.png", "astro.png"]);
    assert_eq!(
        rgb(&d.join("drawn/astro.png")),
        rgb(&d.join("drawn/astro-2.png"))
    );
    // A drawing never replaces its photo.
    let before = std::fs::read(d.join("a/astro.png")).unwrap();
    let out = run(d, data, &["detect", "a/astro.png", "--draw", "a"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is also an input"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(d.join("a/astro.png")).unwrap(), before);

    // Truth: the face on a/astro.png (a true positive), a box away from it on b/astro.png
    // (the face there is a false positive, the box a miss).
    let (x, y, w, h) = (b[0], b[1], b[2], b[3]);
    let (mx, my) = (20u32, 400u32);
    std::fs::write(
        d.join("truth.xml"),
        format!(
            "<dataset><images>\
             <image file='a/astro.png'><box top='{y}' left='{x}' width='{w}' height='{h}'/></image>\
             <image file='b/astro.png'><box top='{my}' left='{mx}' width='60' height='60'/></image>\
             </images></dataset>"
        ),
    )
    .unwrap();
    let out = run(
        d,
        data,
        &[
            "--json",
            "eval-detector",
            "--truth",
            "truth.xml",
            "--draw",
            "marked",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["tp"].as_u64(), v["fp"].as_u64(), v["fn"].as_u64()),
        (Some(1), Some(1), Some(1)),
        "{v}"
    );
    let (tp, other) = (
        rgb(&d.join("marked/astro.png")),
        rgb(&d.join("marked/astro-2.png")),
    );
    let photo = rgb(&astronaut());
    // The photo on top, a legend strip below it.
    assert_eq!(tp.width(), 512);
    assert!(tp.height() > 512);
    assert_eq!(tp.get_pixel(5, 5), photo.get_pixel(5, 5));
    let mid = y + h / 2;
    assert_eq!(tp.get_pixel(x, mid).0, [0, 255, 0], "true positive: green");
    assert_eq!(
        other.get_pixel(x, mid).0,
        [255, 0, 0],
        "false positive: red"
    );
    assert_eq!(
        other.get_pixel(mx, my + 30).0,
        [255, 220, 0],
        "miss: yellow"
    );
    assert_eq!(
        tp.get_pixel(mx, my + 30),
        photo.get_pixel(mx, my + 30),
        "no miss on a/"
    );
    // The legend: white text on black below the photo.
    let strip: Vec<[u8; 3]> = (512..tp.height())
        .flat_map(|yy| (0..tp.width()).map(move |xx| (xx, yy)))
        .map(|(xx, yy)| tp.get_pixel(xx, yy).0)
        .collect();
    assert!(strip.contains(&[255, 255, 255]) && strip.contains(&[0, 0, 0]));
}
