//! Lab: face detection on a photo with one of OpenCV's cascades (the same boxes as OpenCV's
//! `CascadeClassifier::detectMultiScale`), drawn into a PNG.
//!
//! ```sh
//! cargo run --release -- fetch-data
//! cargo run --release --example lab_faces [-- PHOTO [CASCADE.xml]]
//! ```
//!
//! Without arguments it reads `faces/obama3.jpg` of the data cache (a group photo) and
//! OpenCV's `haarcascade_frontalface_default.xml`, and writes `lab_faces.png`.

use classic_cv::Image;
use classic_cv::datasets::fetch;
use classic_cv::detect::cascade::Cascade;
use classic_cv::detect::{DetectParams, Detector};
use classic_cv::draw::Canvas;

fn main() -> anyhow::Result<()> {
    let cache = fetch::default_cache_dir();
    let mut args = std::env::args().skip(1);
    let photo = match args.next() {
        Some(p) => p.into(),
        None => fetch::require(&cache, "faces/obama3.jpg")?,
    };
    let cascade = match args.next() {
        Some(p) => p.into(),
        None => fetch::require(
            &cache,
            "opencv/haarcascades/haarcascade_frontalface_default.xml",
        )?,
    };

    // A detector is built once (it compiles the cascade) and is `Send + Sync`.
    let detector = Detector::new(Cascade::load(&cascade)?)?;
    // OpenCV's defaults: scale factor 1.1, 3 neighbours, 24-pixel minimum (see the docs).
    let params = DetectParams::default();
    let image = Image::load(&photo)?; // gray, as the detector reads it
    let faces = detector.detect(&image, &params)?;

    let mut canvas = Canvas::from_gray(&image);
    let thickness = (image.width().max(image.height()) / 400).max(2) as u32;
    for (i, face) in faces.iter().enumerate() {
        let r = face.rect;
        println!(
            "face {i}: x {} y {} w {} h {} ({} windows)",
            r.x, r.y, r.width, r.height, face.neighbors
        );
        canvas.draw_rect(r, [0, 220, 0], thickness);
    }
    canvas.save_png("lab_faces.png")?;
    println!(
        "{} face(s) in {}; boxes drawn in lab_faces.png",
        faces.len(),
        photo.display()
    );
    Ok(())
}
