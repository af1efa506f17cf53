//! Fuzz the IDX reader (Fashion-MNIST, plain or gzip): the first byte picks the number of
//! dimensions, the rest is the file.
#![no_main]

use classic_cv::datasets::parse_idx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let ndim = [1, 3][sel as usize % 2];
    let _ = parse_idx(std::path::Path::new("fuzz.idx"), rest, ndim);
});
