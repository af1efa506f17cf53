//! Fuzz the dlib imglab XML reader (truth boxes of `eval-detector` and `train-cascade`):
//! any input gives a box list or an error.
#![no_main]

use classic_cv::datasets::parse_imglab;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The reader decodes non-UTF-8 files as Latin-1, so every byte string is a text.
    let text: String = match std::str::from_utf8(data) {
        Ok(s) => s.to_string(),
        Err(_) => data.iter().map(|&b| b as char).collect(),
    };
    if let Ok(set) = parse_imglab(std::path::Path::new("fuzz.xml"), &text) {
        for img in &set.images {
            for b in &img.boxes {
                let _ = b.clipped(640, 480);
            }
        }
    }
});
