//! Fuzz image decoding (PNG, JPEG, PNM) under the pixel limit: any input gives an image
//! of at most `max_pixels` pixels or an error, and never allocates beyond the limit.
#![no_main]

use classic_cv::Image;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // 2^22 pixels keeps every decode far below the fuzzer's 2 GiB memory limit.
    classic_cv::limits::set_max_pixels(1 << 22).expect("a positive limit");
    if let Ok(img) = Image::load_from_memory(data, "fuzz input") {
        assert!((img.width() * img.height()) as u64 <= classic_cv::limits::max_pixels());
        let _ = img.to_u8();
    }
});
