//! Dense SIFT of a batch of images in-process: the Rust side of `scripts/bench_python.py`'s
//! `DenseSIFT` comparison. Times exactly what the Python `DenseSIFT.transform` runs natively
//! (rows of a `n x (h w)` matrix copied into `Image`s, `EncoderParams::local_features` of
//! each image in parallel, descriptors flattened into one `n x (m 128)` matrix), once as a
//! warm-up and then `ROUNDS` times, on `THREADS` threads.
//!
//! ```text
//! cargo run --release --example dsift_batch -- X.npy HEIGHT WIDTH PARAMS_JSON [ROUNDS] [THREADS]
//! ```
//!
//! `X.npy`: float32 pixels in `[0, 1]`, one image per row; `PARAMS_JSON`: the crate's
//! `EncoderParams` as JSON (missing fields take their defaults; the part before the codebook
//! matters: `upscale`, `pad`, `sift`). Prints one JSON line: the seconds of each round and the
//! sha256 of the output matrix (little-endian `f32`, row-major), which the script compares
//! with the Python result.

use std::time::Instant;

use classic_cv::Image;
use classic_cv::encode::encoder::EncoderParams;
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// The work Python's `dense_sift` does natively: images from rows, descriptors per image
/// in parallel, one output row per image.
fn dense_sift_batch(
    p: &EncoderParams,
    x: ArrayView2<f32>,
    (h, w): (usize, usize),
) -> Result<Array2<f32>, Box<dyn std::error::Error>> {
    let images: Vec<Image> = x
        .rows()
        .into_iter()
        .map(|r| Image::new(w, h, r.to_vec()))
        .collect::<classic_cv::Result<_>>()?;
    let rows: Vec<Vec<f32>> = images
        .par_iter()
        .map(|im| Ok(p.local_features(im)?.descriptors.iter().copied().collect()))
        .collect::<classic_cv::Result<_>>()?;
    let d = rows.first().map_or(0, Vec::len);
    Ok(Array2::from_shape_vec((rows.len(), d), rows.concat())?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: X.npy HEIGHT WIDTH PARAMS_JSON [ROUNDS] [THREADS]";
    if args.len() < 4 {
        return Err(usage.into());
    }
    let path = std::path::Path::new(&args[0]);
    let x = classic_cv::npy::read(path)?.into_array2(path)?;
    let shape: (usize, usize) = (args[1].parse()?, args[2].parse()?);
    if shape.0.checked_mul(shape.1) != Some(x.ncols()) {
        return Err(format!(
            "{} columns are not {}x{} images",
            x.ncols(),
            shape.0,
            shape.1
        )
        .into());
    }
    let p: EncoderParams = serde_json::from_str(&args[3])?;
    p.validate()?;
    let rounds: usize = args.get(4).map_or(Ok(1), |s| s.parse())?;
    let threads: usize = args
        .get(5)
        .map_or(Ok(std::thread::available_parallelism()?.get()), |s| {
            s.parse()
        })?;
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()?;
    let out = dense_sift_batch(&p, x.view(), shape)?;
    let mut seconds = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        let again = dense_sift_batch(&p, x.view(), shape)?;
        seconds.push(t.elapsed().as_secs_f64());
        if again != out {
            return Err("two runs gave different descriptors".into());
        }
    }
    let mut hash = Sha256::new();
    for v in &out {
        hash.update(v.to_le_bytes());
    }
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    println!(
        "{}",
        serde_json::json!({
            "seconds": seconds,
            "threads": threads,
            "shape": [out.nrows(), out.ncols()],
            "sha256": hex,
        })
    );
    Ok(())
}
