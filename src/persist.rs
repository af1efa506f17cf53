//! Saving and loading fitted models in a versioned, checksummed envelope.
//!
//! # Overview
//! [`save`] writes any [`Model`] to a file; [`load`] reads it back and checks that the file
//! is a classic-cv model, of the right kind, of a supported version, complete and
//! uncorrupted. Writing is atomic: the bytes go to a temp file beside the target, which is
//! then renamed over it, so a failed or interrupted save never leaves a half file and never
//! destroys the previous model.
//!
//! # Usage
//! ```
//! use classic_cv::{persist, pipeline::Fit, learn::centroid::NearestCentroidParams};
//! let model = NearestCentroidParams::default()
//!     .fit(&[vec![0.0], vec![1.0]], &[0, 1]).unwrap();
//! let dir = std::env::temp_dir().join(format!("ccv-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! persist::save(dir.join("m.json"), &model).unwrap();
//! let back: classic_cv::learn::centroid::NearestCentroid = persist::load(dir.join("m.json")).unwrap();
//! assert_eq!(back, model);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```
//!
//! # Formats (chosen by the file extension on save, detected from the content on load)
//! - `.json`: `{"format":"classic-cv-model","version":1,"kind":K,"sha256":H,"model":M}`,
//!   compact, where `H` is the sha256 of the bytes of `M` as written. Inspectable and
//!   diffable; for small models. A hand-edited file may drop `sha256` to skip the check.
//! - any other extension (`.bin`, `.model`, ...): binary. Magic `CCVMODEL`, version (u32
//!   LE), kind length (u32 LE) and kind (UTF-8), payload length (u64 LE), the payload
//!   (postcard encoding of the model), then the sha256 of everything before it. For large
//!   models (a kNN training set, CNN weights): about 4 bytes per `f32`.
//!
//! Bump [`VERSION`] whenever a serialised field changes meaning.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Envelope tag written into every model file.
pub const FORMAT: &str = "classic-cv-model";
/// Model-file schema version written by this build (the only one it reads).
pub const VERSION: u32 = 1;

const MAGIC: &[u8; 8] = b"CCVMODEL";

/// A type that can be saved as a model file. `kind` names it in the envelope, so that
/// loading a file as the wrong type is a clear error rather than a confusing decode failure.
pub trait Model: Serialize + DeserializeOwned {
    /// A short, stable name for this type of model (e.g. `"linear-svm"`).
    fn kind() -> String;
}

impl<A: Model, B: Model> Model for crate::pipeline::Chain<A, B> {
    fn kind() -> String {
        format!("{}+{}", A::kind(), B::kind())
    }
}

#[derive(Serialize)]
struct JsonOut<'a> {
    format: &'static str,
    version: u32,
    kind: &'a str,
    sha256: &'a str,
    model: &'a serde_json::value::RawValue,
}

#[derive(Deserialize)]
struct JsonIn<'a> {
    format: String,
    version: u32,
    kind: String,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(borrow)]
    model: &'a serde_json::value::RawValue,
}

/// Saves `model` to `path`: JSON for a `.json` extension, binary otherwise. Atomic.
pub fn save<T: Model>(path: impl AsRef<Path>, model: &T) -> Result<()> {
    let path = path.as_ref();
    let bytes = if is_json_path(path) {
        encode_json(path, model)?
    } else {
        encode_binary(path, model)?
    };
    write_atomic(path, &bytes)
}

/// Loads a model of type `T` from `path` (JSON or binary, detected from the content).
pub fn load<T: Model>(path: impl AsRef<Path>) -> Result<T> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(path, &bytes)
}

/// Decodes model bytes read from `path` (used for error messages only).
pub fn decode<T: Model>(path: &Path, bytes: &[u8]) -> Result<T> {
    if bytes.starts_with(MAGIC) {
        decode_binary(path, bytes)
    } else if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        decode_json(path, bytes)
    } else if bytes.is_empty() {
        Err(Error::format(path, "empty file: not a classic-cv model"))
    } else {
        Err(Error::format(
            path,
            "not a classic-cv model file (neither the JSON envelope nor the CCVMODEL binary header)",
        ))
    }
}

/// Writes `bytes` to `path` through a temp file in the same directory and a rename, so
/// readers see either the old file or the complete new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::format(path, "not a file path"))?;
    let tmp = dir.join(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

fn is_json_path(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn encode_json<T: Model>(path: &Path, model: &T) -> Result<Vec<u8>> {
    let body = serde_json::to_string(model)
        .map_err(|e| Error::format(path, format!("cannot serialise model: {e}")))?;
    let sha = sha256_hex(body.as_bytes());
    let raw = serde_json::value::RawValue::from_string(body)
        .map_err(|e| Error::format(path, format!("cannot serialise model: {e}")))?;
    let kind = T::kind();
    let mut out = serde_json::to_vec(&JsonOut {
        format: FORMAT,
        version: VERSION,
        kind: &kind,
        sha256: &sha,
        model: &raw,
    })
    .map_err(|e| Error::format(path, format!("cannot serialise model: {e}")))?;
    out.push(b'\n');
    Ok(out)
}

fn decode_json<T: Model>(path: &Path, bytes: &[u8]) -> Result<T> {
    let env: JsonIn = serde_json::from_slice(bytes).map_err(|e| {
        let what = if e.is_eof() {
            "truncated model file"
        } else {
            "malformed model file"
        };
        Error::format(path, format!("{what}: {e}"))
    })?;
    check_header(path, &env.format, env.version, &env.kind, &T::kind())?;
    if let Some(expected) = env.sha256 {
        let found = sha256_hex(env.model.get().as_bytes());
        if found != expected {
            return Err(Error::format(
                path,
                "corrupted model file: the checksum of the model does not match",
            ));
        }
    }
    serde_json::from_str(env.model.get()).map_err(|e| {
        Error::format(
            path,
            format!("model does not decode as `{}`: {e}", T::kind()),
        )
    })
}

fn check_header(path: &Path, format: &str, version: u32, kind: &str, expected: &str) -> Result<()> {
    if format != FORMAT {
        return Err(Error::format(
            path,
            format!("not a classic-cv model (format tag `{format}`)"),
        ));
    }
    if version != VERSION {
        return Err(Error::IncompatibleModel {
            path: path.to_path_buf(),
            found: version,
            supported: VERSION,
        });
    }
    if kind != expected {
        return Err(Error::WrongModelKind {
            path: path.to_path_buf(),
            found: kind.to_string(),
            expected: expected.to_string(),
        });
    }
    Ok(())
}

fn encode_binary<T: Model>(path: &Path, model: &T) -> Result<Vec<u8>> {
    let payload = postcard::to_stdvec(model)
        .map_err(|e| Error::format(path, format!("cannot serialise model: {e}")))?;
    let kind = T::kind();
    let mut out = Vec::with_capacity(payload.len() + kind.len() + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(kind.len() as u32).to_le_bytes());
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    Ok(out)
}

/// A cursor over the binary header that reports truncation instead of panicking.
struct Reader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(Error::format(
                self.path,
                format!(
                    "truncated model file ({} bytes; the header promises more)",
                    self.bytes.len()
                ),
            ));
        };
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

fn decode_binary<T: Model>(path: &Path, bytes: &[u8]) -> Result<T> {
    let mut r = Reader {
        path,
        bytes,
        pos: MAGIC.len(),
    };
    let version = r.u32()?;
    if version != VERSION {
        return Err(Error::IncompatibleModel {
            path: path.to_path_buf(),
            found: version,
            supported: VERSION,
        });
    }
    let kind_len = r.u32()? as usize;
    let kind = String::from_utf8_lossy(r.take(kind_len)?).into_owned();
    let payload_len = usize::try_from(r.u64()?)
        .map_err(|_| Error::format(path, "corrupted model file: impossible payload length"))?;
    let payload = r.take(payload_len)?;
    let body_end = r.pos;
    let digest = r.take(32)?;
    if r.pos != bytes.len() {
        return Err(Error::format(
            path,
            format!(
                "corrupted model file: {} unexpected trailing bytes",
                bytes.len() - r.pos
            ),
        ));
    }
    if Sha256::digest(&bytes[..body_end]).as_slice() != digest {
        return Err(Error::format(
            path,
            "corrupted model file: checksum mismatch",
        ));
    }
    check_header(path, FORMAT, version, &kind, &T::kind())?;
    postcard::from_bytes(payload).map_err(|e| {
        Error::format(
            path,
            format!("model does not decode as `{}`: {e}", T::kind()),
        )
    })
}
