//! How a fitted [`Knn`] is written to a model file: the params, the labels, and the training
//! rows, one byte per value when every value is `i / 255` for an integer `i` in `0..=255`
//! (8-bit pixels scaled to `[0, 1]`; lossless, 4x smaller than `f32`), else `f32`. Norms,
//! projection and k-d tree are rebuilt on load; a file whose sizes or labels do not agree is
//! rejected.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Knn, KnnParams};
use crate::pipeline::Label;

/// What is written to a model file: the params, the labels and the training rows (one
/// byte per value when lossless).
#[derive(Serialize, Deserialize)]
struct Stored<R> {
    params: KnnParams,
    n_classes: usize,
    labels: Vec<Label>,
    dim: usize,
    rows: R,
}

#[derive(Serialize, Deserialize)]
enum StoredRows {
    /// `i / 255` values stored as `i`.
    Bytes255(Vec<u8>),
    /// Anything else.
    F32(Vec<f32>),
}

#[derive(Serialize)]
enum StoredRowsRef<'a> {
    Bytes255(Vec<u8>),
    F32(&'a [f32]),
}

/// The 8-bit code of `v` if `v` is exactly `i as f32 / 255.0` for an integer `i`.
fn as_byte255(v: f32) -> Option<u8> {
    let i = (v * 255.0).round();
    ((0.0..=255.0).contains(&i) && (i as u8) as f32 / 255.0 == v).then_some(i as u8)
}

impl Serialize for Knn {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let bytes: Option<Vec<u8>> = self.train.iter().map(|&v| as_byte255(v)).collect();
        let rows = match bytes {
            Some(b) => StoredRowsRef::Bytes255(b),
            None => StoredRowsRef::F32(&self.train),
        };
        Stored {
            params: self.params.clone(),
            n_classes: self.n_classes,
            labels: self.labels.clone(),
            dim: self.dim,
            rows,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Knn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let s = Stored::<StoredRows>::deserialize(d)?;
        let train = match s.rows {
            StoredRows::Bytes255(b) => b.into_iter().map(|v| v as f32 / 255.0).collect(),
            StoredRows::F32(v) => v,
        };
        let n = s.labels.len();
        if s.dim == 0 || train.len() != n * s.dim {
            return Err(D::Error::custom(format!(
                "knn training set of {} values does not hold {n} rows of {}",
                train.len(),
                s.dim
            )));
        }
        if s.labels.iter().any(|&l| l as usize >= s.n_classes) {
            return Err(D::Error::custom("knn label outside 0..n_classes"));
        }
        if n < s.params.k || s.params.validate().is_err() || !train.iter().all(|v| v.is_finite()) {
            return Err(D::Error::custom("knn model fails its own checks"));
        }
        Ok(Knn::build(s.params, s.n_classes, s.labels, s.dim, train))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::random_set;
    use super::super::*;

    #[test]
    fn bytes_are_stored_when_lossless() {
        let (x, y) = random_set(50, 4, 1, true);
        let knn = KnnParams::default().fit(&x, &y).unwrap();
        let bytes = postcard::to_stdvec(&knn).unwrap();
        assert!(bytes.len() < 50 * 4 + 200, "{} bytes", bytes.len());
        assert_eq!(postcard::from_bytes::<Knn>(&bytes).unwrap(), knn);
        let (x, y) = random_set(50, 4, 1, false);
        let knn = KnnParams::default().fit(&x, &y).unwrap();
        let bytes = postcard::to_stdvec(&knn).unwrap();
        assert_eq!(postcard::from_bytes::<Knn>(&bytes).unwrap(), knn);
    }
}
