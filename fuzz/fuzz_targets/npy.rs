//! Fuzz the `.npy` parser: any input gives an array or an error, and an array converts to
//! a matrix or fails cleanly.
#![no_main]

use classic_cv::npy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.npy");
    if let Ok(a) = npy::parse(path, data) {
        let _ = a.clone().into_u32(path);
        let _ = a.into_array2(path);
    }
});
