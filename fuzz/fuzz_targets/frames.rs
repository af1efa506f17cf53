//! Fuzz the `--raw` frame stream: the first 4 bytes give the frame size (`WxH`, each
//! 1..=256), the rest is the stream, cut into frames as `detect --raw` does; the last,
//! short frame must be refused, never read out of bounds.
#![no_main]

use std::sync::OnceLock;

use classic_cv::detect::cascade::Cascade;
use classic_cv::detect::{DetectParams, Detector, FrameStream};
use libfuzzer_sys::fuzz_target;

/// A small LBP cascade and a small Haar one, from the OpenCV files in the data cache.
fn detectors() -> &'static [Detector] {
    static D: OnceLock<Vec<Detector>> = OnceLock::new();
    D.get_or_init(|| {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/cache/opencv/");
        [
            "lbpcascades/lbpcascade_frontalface.xml",
            "haarcascades/haarcascade_eye.xml",
        ]
        .iter()
        .map(|f| {
            let c = Cascade::load(format!("{root}{f}"))
                .expect("run `classic-cv fetch-data` to get the OpenCV cascades");
            Detector::new(c).expect("a valid cascade")
        })
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let w = u16::from_le_bytes([data[0], data[1]]) as usize % 256 + 1;
    let h = u16::from_le_bytes([data[2], data[3]]) as usize % 256 + 1;
    let det = &detectors()[data[4] as usize % 2];
    let params = DetectParams {
        min_size: (8, 8),
        ..DetectParams::default()
    };
    let Ok(mut stream) = FrameStream::new(det, w, h, params) else {
        return;
    };
    let frames: Vec<&[u8]> = data[5..].chunks(w * h).take(4).collect();
    let res = stream.detect_batch(&frames);
    if frames.last().is_some_and(|f| f.len() != w * h) {
        assert!(res.is_err(), "a short frame must be refused");
    }
});
