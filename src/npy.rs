//! NumPy `.npy` files: read and write `float32`, `uint8` and `uint32` arrays.
//!
//! # Overview
//! Descriptors, encodings, labels and predictions travel to and from Python as `.npy`, the
//! format of `np.save` / `np.load`. [`write()`] stores a C-order array; [`read`] reads version
//! 1, 2 or 3 files of little-endian `f4`, `f8`, `u1`, `u4`, `i4`, `i8` and `bool`, in C or Fortran
//! order, and [`NpyArray::into_f32`] / [`NpyArray::into_u32`] convert them to the crate's
//! types with range checks.
//!
//! # Usage
//! ```
//! use classic_cv::npy::{self, NpyArray, NpyData};
//! let a = NpyArray { shape: vec![2, 3], data: NpyData::F32(vec![0.5; 6]) };
//! let path = std::env::temp_dir().join(format!("ccv-npy-doc-{}.npy", std::process::id()));
//! npy::write(&path, &a).unwrap();
//! assert_eq!(npy::read(&path).unwrap(), a);
//! # std::fs::remove_file(&path).unwrap();
//! ```
//!
//! # Format
//! `\x93NUMPY`, major and minor version bytes, header length (u16 LE in version 1, u32 LE in
//! 2 and 3), then a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`
//! padded with spaces and a newline so that the data starts on a 64-byte boundary, then the
//! raw data.

use std::path::Path;

use ndarray::Array2;

use crate::error::{Error, Result};

/// An n-dimensional array read from or written to `.npy`, in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Elements in row-major order.
    pub data: NpyData,
}

/// The elements of an [`NpyArray`], by dtype.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    /// `<f4`.
    F32(Vec<f32>),
    /// `<f8` (read only; written arrays are `f32`).
    F64(Vec<f64>),
    /// `|u1`.
    U8(Vec<u8>),
    /// `<u4`.
    U32(Vec<u32>),
    /// `<i4` (read only).
    I32(Vec<i32>),
    /// `<i8` (read only).
    I64(Vec<i64>),
    /// `|b1` (read only).
    Bool(Vec<bool>),
}

impl NpyData {
    fn len(&self) -> usize {
        match self {
            NpyData::F32(v) => v.len(),
            NpyData::F64(v) => v.len(),
            NpyData::U8(v) => v.len(),
            NpyData::U32(v) => v.len(),
            NpyData::I32(v) => v.len(),
            NpyData::I64(v) => v.len(),
            NpyData::Bool(v) => v.len(),
        }
    }

    fn descr(&self) -> &'static str {
        match self {
            NpyData::F32(_) => "<f4",
            NpyData::F64(_) => "<f8",
            NpyData::U8(_) => "|u1",
            NpyData::U32(_) => "<u4",
            NpyData::I32(_) => "<i4",
            NpyData::I64(_) => "<i8",
            NpyData::Bool(_) => "|b1",
        }
    }
}

impl NpyArray {
    /// A 2-D `f32` array from an ndarray matrix.
    pub fn from_array2(a: &Array2<f32>) -> Self {
        NpyArray {
            shape: a.shape().to_vec(),
            data: NpyData::F32(a.iter().copied().collect()),
        }
    }

    /// Elements converted to `f32` (from any dtype).
    pub fn into_f32(self) -> Vec<f32> {
        match self.data {
            NpyData::F32(v) => v,
            NpyData::F64(v) => v.into_iter().map(|x| x as f32).collect(),
            NpyData::U8(v) => v.into_iter().map(f32::from).collect(),
            NpyData::U32(v) => v.into_iter().map(|x| x as f32).collect(),
            NpyData::I32(v) => v.into_iter().map(|x| x as f32).collect(),
            NpyData::I64(v) => v.into_iter().map(|x| x as f32).collect(),
            NpyData::Bool(v) => v.into_iter().map(|b| b as u8 as f32).collect(),
        }
    }

    /// Elements converted to `u32`; floats must be whole numbers and nothing may be negative
    /// or above `u32::MAX`.
    pub fn into_u32(self, path: &Path) -> Result<Vec<u32>> {
        let bad =
            |what: String| Error::format(path, format!("cannot read as unsigned labels: {what}"));
        fn conv<T: Copy + std::fmt::Display>(
            v: Vec<T>,
            f: impl Fn(T) -> Option<u32>,
            bad: impl Fn(String) -> Error,
        ) -> Result<Vec<u32>> {
            v.into_iter()
                .map(|x| f(x).ok_or_else(|| bad(format!("value {x} is not in 0..=4294967295"))))
                .collect()
        }
        let float =
            |x: f64| (x.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&x)).then_some(x as u32);
        match self.data {
            NpyData::U32(v) => Ok(v),
            NpyData::U8(v) => Ok(v.into_iter().map(u32::from).collect()),
            NpyData::Bool(v) => Ok(v.into_iter().map(u32::from).collect()),
            NpyData::I32(v) => conv(v, |x| u32::try_from(x).ok(), bad),
            NpyData::I64(v) => conv(v, |x| u32::try_from(x).ok(), bad),
            NpyData::F32(v) => conv(v, |x| float(x as f64), bad),
            NpyData::F64(v) => conv(v, float, bad),
        }
    }

    /// The array as an `n x d` `f32` matrix: 1-D arrays become one column, arrays of more
    /// dimensions are flattened after the first.
    pub fn into_array2(self, path: &Path) -> Result<Array2<f32>> {
        let rows = *self.shape.first().unwrap_or(&1);
        let cols = if self.shape.is_empty() {
            1
        } else {
            self.shape[1..].iter().product()
        };
        let data = self.into_f32();
        Array2::from_shape_vec((rows, cols), data)
            .map_err(|e| Error::format(path, format!("cannot view as a matrix: {e}")))
    }
}

/// Writes `array` to `path` in `.npy` version 1.0 format (atomically).
pub fn write(path: impl AsRef<Path>, array: &NpyArray) -> Result<()> {
    let path = path.as_ref();
    let count: usize = array.shape.iter().product();
    if count != array.data.len() {
        return Err(Error::DimensionMismatch {
            what: "npy element count",
            expected: count,
            found: array.data.len(),
        });
    }
    let shape = match array.shape.len() {
        1 => format!("({},)", array.shape[0]),
        _ => format!(
            "({})",
            array
                .shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        array.data.descr()
    );
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + count * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    match &array.data {
        NpyData::F32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::F64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::U8(v) => out.extend_from_slice(v),
        NpyData::U32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::I32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::I64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::Bool(v) => v.iter().for_each(|&x| out.push(x as u8)),
    }
    crate::persist::write_atomic(path, &out)
}

/// Writes an `f32` matrix.
pub fn write_array2(path: impl AsRef<Path>, a: &Array2<f32>) -> Result<()> {
    write(path, &NpyArray::from_array2(a))
}

/// Writes a 1-D `u32` array (labels, predictions, assignments).
pub fn write_u32(path: impl AsRef<Path>, values: &[u32]) -> Result<()> {
    write(
        path,
        &NpyArray {
            shape: vec![values.len()],
            data: NpyData::U32(values.to_vec()),
        },
    )
}

/// Reads a `.npy` file.
pub fn read(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    let bytes = crate::limits::read_input(path)?;
    parse(path, &bytes)
}

/// Parses `.npy` bytes (`path` only labels errors).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<NpyArray> {
    let fail = |reason: String| Error::format(path, reason);
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(fail("not a .npy file (missing \\x93NUMPY magic)".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(fail(format!("unsupported .npy version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| fail("truncated .npy header".into()))?;
    let header = std::str::from_utf8(header).map_err(|_| fail("header is not text".into()))?;
    let descr = dict_value(header, "descr").ok_or_else(|| fail("header has no 'descr'".into()))?;
    let descr = descr.trim().trim_matches(['\'', '"']);
    let fortran = dict_value(header, "fortran_order")
        .ok_or_else(|| fail("header has no 'fortran_order'".into()))?
        .trim()
        .starts_with("True");
    let shape_text =
        dict_value(header, "shape").ok_or_else(|| fail("header has no 'shape'".into()))?;
    let shape: Vec<usize> = shape_text
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| fail(format!("bad shape {shape_text}")))?;
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| fail("shape overflows".into()))?;
    let body = &bytes[start + header_len..];
    let elem = match descr {
        "<f4" | "=f4" => 4,
        "<f8" | "=f8" => 8,
        "|u1" | "<u1" | "u1" | "|b1" => 1,
        "<u4" | "=u4" | "<i4" | "=i4" => 4,
        "<i8" | "=i8" => 8,
        other => {
            return Err(fail(format!(
                "unsupported dtype '{other}' (supported: float32, float64, uint8, uint32, int32, int64, bool; little-endian)"
            )));
        }
    };
    let needed = count
        .checked_mul(elem)
        .ok_or_else(|| fail("shape overflows".into()))?;
    if body.len() < needed {
        return Err(fail(format!(
            "truncated .npy data: shape {shape:?} needs {needed} bytes, file has {}",
            body.len()
        )));
    }
    let body = &body[..needed];
    let chunks4 = || body.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]);
    let chunks8 = || {
        body.chunks_exact(8)
            .map(|c| [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
    };
    let data = match descr.trim_start_matches(['<', '=', '|']) {
        "f4" => NpyData::F32(chunks4().map(f32::from_le_bytes).collect()),
        "f8" => NpyData::F64(chunks8().map(f64::from_le_bytes).collect()),
        "u1" => NpyData::U8(body.to_vec()),
        "b1" => NpyData::Bool(body.iter().map(|&b| b != 0).collect()),
        "u4" => NpyData::U32(chunks4().map(u32::from_le_bytes).collect()),
        "i4" => NpyData::I32(chunks4().map(i32::from_le_bytes).collect()),
        _ => NpyData::I64(chunks8().map(i64::from_le_bytes).collect()),
    };
    let mut array = NpyArray { shape, data };
    if fortran && array.shape.len() > 1 {
        array = fortran_to_c(array);
    }
    Ok(array)
}

/// Value text of `key` in a Python dict literal (up to the next top-level comma or brace).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[at + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?;
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    None
}

/// Reorders Fortran-order (column-major) elements into C order.
fn fortran_to_c(a: NpyArray) -> NpyArray {
    let shape = a.shape.clone();
    let n: usize = shape.iter().product();
    // For each C-order flat index, the Fortran-order flat index of the same element.
    let mut order = Vec::with_capacity(n);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        let mut f = 0;
        let mut stride = 1;
        for (d, &i) in idx.iter().enumerate() {
            f += i * stride;
            stride *= shape[d];
        }
        order.push(f);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    fn pick<T: Copy>(v: &[T], order: &[usize]) -> Vec<T> {
        order.iter().map(|&i| v[i]).collect()
    }
    let data = match &a.data {
        NpyData::F32(v) => NpyData::F32(pick(v, &order)),
        NpyData::F64(v) => NpyData::F64(pick(v, &order)),
        NpyData::U8(v) => NpyData::U8(pick(v, &order)),
        NpyData::U32(v) => NpyData::U32(pick(v, &order)),
        NpyData::I32(v) => NpyData::I32(pick(v, &order)),
        NpyData::I64(v) => NpyData::I64(pick(v, &order)),
        NpyData::Bool(v) => NpyData::Bool(pick(v, &order)),
    };
    NpyArray { shape, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(a: NpyArray) {
        let bytes = {
            let dir = std::env::temp_dir().join(format!("ccv-npy-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let p = dir.join(format!("{}.npy", a.data.descr().replace(['<', '|'], "")));
            write(&p, &a).unwrap();
            std::fs::read(&p).unwrap()
        };
        assert_eq!(
            (10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize) % 64,
            0
        );
        assert_eq!(parse(Path::new("x"), &bytes).unwrap(), a);
    }

    #[test]
    fn write_then_read_each_dtype() {
        roundtrip(NpyArray {
            shape: vec![2, 3],
            data: NpyData::F32(vec![1.5, -2.0, 0.0, 3.25, 1e-7, 9.0]),
        });
        roundtrip(NpyArray {
            shape: vec![4],
            data: NpyData::U8(vec![0, 1, 254, 255]),
        });
        roundtrip(NpyArray {
            shape: vec![3],
            data: NpyData::U32(vec![0, 7, u32::MAX]),
        });
        roundtrip(NpyArray {
            shape: vec![1, 2, 2],
            data: NpyData::F32(vec![1.0; 4]),
        });
    }

    /// Bytes exactly as `np.save` writes `np.arange(6, dtype='<i8').reshape(2, 3).T` with
    /// `fortran_order` True: a hand-built header.
    #[test]
    fn fortran_order_is_reordered() {
        let header = "{'descr': '<i8', 'fortran_order': True, 'shape': (3, 2), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for v in 0i64..6 {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        // Column-major storage 0..6 of a 3x2 array is [[0, 3], [1, 4], [2, 5]].
        let a = parse(Path::new("x"), &bytes).unwrap();
        assert_eq!(a.data, NpyData::I64(vec![0, 3, 1, 4, 2, 5]));
        assert_eq!(a.into_u32(Path::new("x")).unwrap(), vec![0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(parse(Path::new("x"), b"hello").is_err());
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100,), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0; 12]);
        let err = parse(Path::new("x"), &bytes).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let neg = NpyArray {
            shape: vec![1],
            data: NpyData::I32(vec![-1]),
        };
        assert!(neg.into_u32(Path::new("x")).is_err());
    }
}
