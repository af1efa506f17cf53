//! Dataset readers and image loading on real and broken files.

use std::io::Write;

use classic_cv::datasets::{self, Split};
use classic_cv::{Error, Image, datasets::fetch};

/// The fetched data, as `fetch-data` leaves it (`.ci/run` fetches before testing).
use crate::locate::cache;

#[test]
fn fetched_data_is_complete_and_verified() {
    let states = fetch::verify(&cache()).unwrap();
    let bad: Vec<_> = states
        .iter()
        .filter(|(_, s)| *s != fetch::FileState::Ok)
        .collect();
    assert!(bad.is_empty(), "run `classic-cv fetch-data` first: {bad:?}");
}

#[test]
fn fashion_mnist_has_6000_and_1000_per_class() {
    let dir = cache().join("fashion-mnist");
    let train = datasets::fashion_mnist(&dir, Split::Train).unwrap();
    let test = datasets::fashion_mnist(&dir, Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(train.class_counts(), vec![6000; 10]);
    assert_eq!(test.class_counts(), vec![1000; 10]);
    let img = &train.images[0];
    assert_eq!((img.width(), img.height()), (28, 28));
    assert!(img.as_slice().iter().all(|v| (0.0..=1.0).contains(v)));
    // The first training image is an ankle boot (label 9) in the published files.
    assert_eq!(train.labels[0], 9);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn idx_with_wrong_magic_or_truncated_gzip_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut idx = vec![0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2];
    idx.extend_from_slice(&[1, 2, 3, 4]);
    let good = dir.path().join("good.gz");
    std::fs::write(&good, gzip(&idx)).unwrap();
    let (dims, data) = datasets::read_idx(&good, 3).unwrap();
    assert_eq!((dims, data), (vec![1, 2, 2], vec![1, 2, 3, 4]));

    let mut wrong = idx.clone();
    wrong[3] = 1;
    let p = dir.path().join("wrong.gz");
    std::fs::write(&p, gzip(&wrong)).unwrap();
    let e = datasets::read_idx(&p, 3).unwrap_err().to_string();
    assert!(e.contains("wrong IDX magic number"), "{e}");

    let full = gzip(&idx);
    let p = dir.path().join("truncated.gz");
    std::fs::write(&p, &full[..full.len() / 2]).unwrap();
    let e = datasets::read_idx(&p, 3).unwrap_err().to_string();
    assert!(e.contains("gzip"), "{e}");

    let mut short = idx.clone();
    short.pop();
    let p = dir.path().join("short.gz");
    std::fs::write(&p, gzip(&short)).unwrap();
    assert!(datasets::read_idx(&p, 3).is_err());
}

#[test]
fn image_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let e = Image::load(dir.path().join("nope.png")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    let text = dir.path().join("notes.png");
    std::fs::write(&text, "this is not an image").unwrap();
    let e = Image::load(&text).unwrap_err().to_string();
    assert!(e.contains("not a PNG, JPEG or PNM"), "{e}");
    // A well-formed PNG (valid CRCs) whose header declares 0x0 pixels.
    let hex = "89504e470d0a1a0a0000000d49484452000000000000000008000000001ee023ce0000000849444154789c030000000001480689d20000000049454e44ae426082";
    let png: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let zero = dir.path().join("zero.png");
    std::fs::write(&zero, &png).unwrap();
    let e = Image::load(&zero).unwrap_err().to_string();
    assert!(e.contains("dimensions"), "{e}");
    let e = Image::load_any(dir.path().join("x.f32"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("WxH"), "{e}");
}

#[test]
fn png_save_load_round_trip_and_raw_f32() {
    let dir = tempfile::tempdir().unwrap();
    let img = Image::from_fn(9, 5, |x, y| ((x * 5 + y) % 256) as f32 / 255.0);
    let p = dir.path().join("a.png");
    img.save_png(&p).unwrap();
    let back = Image::load(&p).unwrap();
    for (a, b) in img.as_slice().iter().zip(back.as_slice()) {
        assert!((a - b).abs() < 1e-6);
    }
    let raw: Vec<u8> = img
        .as_slice()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let p = dir.path().join("a.f32");
    std::fs::write(&p, &raw).unwrap();
    assert_eq!(Image::load_any(&p, Some((9, 5))).unwrap(), img);
    assert!(Image::load_raw_f32(&p, 10, 5).is_err());
}

#[test]
fn colour_images_convert_with_bt601_weights() {
    let dir = tempfile::tempdir().unwrap();
    let mut rgb = ::image::RgbImage::new(2, 1);
    rgb.put_pixel(0, 0, ::image::Rgb([255, 0, 0]));
    rgb.put_pixel(1, 0, ::image::Rgb([10, 200, 30]));
    let p = dir.path().join("c.png");
    rgb.save(&p).unwrap();
    let g = Image::load(&p).unwrap();
    assert!((g.get(0, 0) - 0.299).abs() < 1e-6);
    let expected = (0.299 * 10.0 + 0.587 * 200.0 + 0.114 * 30.0) / 255.0;
    assert!((g.get(1, 0) - expected).abs() < 1e-5);
}

#[test]
fn image_folder_labels_sorted_class_names() {
    let dir = tempfile::tempdir().unwrap();
    for (class, n) in [("zebra", 2), ("apple", 3)] {
        std::fs::create_dir_all(dir.path().join(class)).unwrap();
        for i in 0..n {
            Image::from_fn(4 + i, 3, |x, _| x as f32 / 8.0)
                .save_png(dir.path().join(class).join(format!("{i}.png")))
                .unwrap();
        }
    }
    std::fs::write(dir.path().join("apple/readme.txt"), "skip me").unwrap();
    let ds = datasets::image_folder(dir.path()).unwrap();
    assert_eq!(ds.class_names, vec!["apple", "zebra"]);
    assert_eq!(ds.labels, vec![0, 0, 0, 1, 1]);
    assert_eq!(ds.images[4].width(), 5);
    std::fs::write(dir.path().join("zebra/bad.png"), "garbage").unwrap();
    let e = datasets::image_folder(dir.path()).unwrap_err().to_string();
    assert!(e.contains("bad.png"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    assert!(datasets::image_folder(empty.path()).is_err());
}

#[test]
fn imglab_reads_the_anchor_faces() {
    let p = crate::locate::anchors("data/dlibfaces/training.xml");
    let data = datasets::read_imglab(&p).unwrap();
    assert_eq!(data.images.len(), 4);
    assert_eq!(data.images.iter().map(|i| i.boxes.len()).sum::<usize>(), 18);
    let first = &data.images[0].boxes[0];
    assert_eq!(
        (first.left, first.top, first.width, first.height),
        (194, 90, 37, 37)
    );
}

#[test]
fn pgm_loads_and_zero_size_pgm_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ok.pgm");
    std::fs::write(&p, b"P5\n2 2\n255\n\x00\x40\x80\xff").unwrap();
    let img = Image::load(&p).unwrap();
    assert_eq!(img.as_slice(), &[0.0, 64.0 / 255.0, 128.0 / 255.0, 1.0]);
    let p = dir.path().join("zero.pgm");
    std::fs::write(&p, b"P5\n0 0\n255\n").unwrap();
    let e = Image::load(&p).unwrap_err().to_string();
    assert!(e.contains("zero.pgm"), "{e}");
}
