//! Fuzz model loading (`persist::decode`) for every kind of model, in both envelopes, and
//! use what loads. Byte 0 picks the kind; byte 1 picks the envelope: the rest of the input
//! is either the whole file (JSON or binary, as on disk) or a postcard payload that the
//! target wraps in a valid binary envelope with its checksum (so the fuzzer reaches the
//! decoder and the model checks behind the checksum).
#![no_main]

use classic_cv::Image;
use classic_cv::bodyparts::BodyPartForest;
use classic_cv::classify::config::Pipeline;
use classic_cv::cnn::Cnn;
use classic_cv::detect::cascade::Cascade;
use classic_cv::detect::train::TrainState;
use classic_cv::encode::{
    bovw::Bovw, encoder::Encoder, fisher::Fisher, gmm::Gmm, homkermap::HomKerMap, kmeans::KMeans,
    vlad::Vlad,
};
use classic_cv::features::{pixels::Pixels, sift::DenseSift};
use classic_cv::learn::{
    centroid::NearestCentroid, forest::RandomForest, knn::Knn, preprocess::Standardize,
    softmax::Softmax, svm::LinearSvm,
};
use classic_cv::persist::{self, Model};
use classic_cv::pipeline::Transform;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fn envelope<T: Model>(payload: &[u8]) -> Vec<u8> {
    let kind = T::kind();
    let mut out = b"CCVMODEL".to_vec();
    out.extend_from_slice(&persist::VERSION.to_le_bytes());
    out.extend_from_slice(&(kind.len() as u32).to_le_bytes());
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

fn load<T: Model>(wrap: bool, body: &[u8]) -> Option<T> {
    let path = std::path::Path::new("fuzz.model");
    if wrap {
        persist::decode(path, &envelope::<T>(body)).ok()
    } else {
        persist::decode(path, body).ok()
    }
}

/// Runs a vector classifier on vectors of lengths 0..=8.
fn use_vec<T: Transform<Input = Vec<f32>>>(m: T) {
    for d in 0..=8 {
        let _ = m.transform(&vec![0.5; d]);
    }
}

fn use_image<T: Transform<Input = Image>>(m: T) {
    for (w, h) in [(28, 28), (9, 7)] {
        let _ = m.transform(&Image::from_fn(w, h, |x, y| ((x * y) % 7) as f32 / 7.0));
    }
}

fuzz_target!(|data: &[u8]| {
    let [kind, mode, body @ ..] = data else {
        return;
    };
    let wrap = mode % 2 == 1;
    match kind % 20 {
        0 => drop(load::<Cascade>(wrap, body)),
        1 => drop(load::<TrainState>(wrap, body)),
        2 => {
            if let Some(m) = load::<Pipeline>(wrap, body) {
                use_image(m)
            }
        }
        3 => drop(load::<DenseSift>(wrap, body)),
        4 => drop(load::<Pixels>(wrap, body)),
        5 => drop(load::<BodyPartForest>(wrap, body)),
        6 => {
            if let Some(m) = load::<Cnn>(wrap, body) {
                use_image(m)
            }
        }
        7 => drop(load::<Fisher>(wrap, body)),
        8 => {
            if let Some(m) = load::<KMeans>(wrap, body) {
                use_vec(m)
            }
        }
        9 => drop(load::<HomKerMap>(wrap, body)),
        10 => drop(load::<Bovw>(wrap, body)),
        11 => drop(load::<Encoder>(wrap, body)),
        12 => drop(load::<Vlad>(wrap, body)),
        13 => drop(load::<Gmm>(wrap, body)),
        14 => {
            if let Some(m) = load::<Knn>(wrap, body) {
                use_vec(m)
            }
        }
        15 => {
            if let Some(m) = load::<NearestCentroid>(wrap, body) {
                use_vec(m)
            }
        }
        16 => {
            if let Some(m) = load::<RandomForest>(wrap, body) {
                use_vec(m)
            }
        }
        17 => drop(load::<Standardize>(wrap, body)),
        18 => {
            if let Some(m) = load::<Softmax>(wrap, body) {
                use_vec(m)
            }
        }
        _ => {
            if let Some(m) = load::<LinearSvm>(wrap, body) {
                use_vec(m)
            }
        }
    }
});
