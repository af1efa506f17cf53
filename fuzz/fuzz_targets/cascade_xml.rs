//! Fuzz the OpenCV cascade XML loader: any input must give a cascade or an error, and a
//! cascade that loads must also run on a small image.
//!
//! `cargo +nightly fuzz run cascade_xml fuzz/corpus/cascade_xml` (seed the corpus with
//! the files of `data/cache/opencv`).
#![no_main]

use classic_cv::detect::cascade::Cascade;
use classic_cv::detect::{DetectParams, Detector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Cascade::from_xml(text, "fuzz.xml") {
        let det = Detector::new(c).expect("a loaded cascade is valid");
        let px: Vec<u8> = (0..48 * 40).map(|i| (i * 7 % 251) as u8).collect();
        let _ = det.detect_u8(&px, 48, 40, &DetectParams::default());
    }
});
