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
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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

    /// Checks what a decoded model claims (a model file is untrusted input): sizes that
    /// agree with each other, counts within [`crate::limits`], finite numbers. [`load`] and
    /// [`decode`] call it, so a model that loads can be used without panicking. Kinds whose
    /// every decodable value is usable keep the default, which accepts everything.
    fn validate_loaded(&self) -> Result<()> {
        Ok(())
    }

    /// Decodes the binary payload (postcard). Kinds whose layout grew a field override it
    /// to read the older layout too.
    fn from_postcard(payload: &[u8]) -> postcard::Result<Self> {
        postcard::from_bytes(payload)
    }
}

impl<A: Model, B: Model> Model for crate::pipeline::Chain<A, B> {
    fn kind() -> String {
        format!("{}+{}", A::kind(), B::kind())
    }

    fn validate_loaded(&self) -> Result<()> {
        self.first.validate_loaded()?;
        self.second.validate_loaded()
    }
}

/// Runs [`Model::validate_loaded`], naming the file and the kind on failure.
fn checked<T: Model>(path: &Path, model: T) -> Result<T> {
    model
        .validate_loaded()
        .map_err(|e| Error::format(path, format!("invalid `{}` model: {e}", T::kind())))?;
    Ok(model)
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

/// The bytes [`save`] writes to a binary (non-`.json`) path, for callers that keep models
/// in memory (the Python package pickles through them); [`decode`] reads them back.
pub fn model_bytes<T: Model>(model: &T) -> Result<Vec<u8>> {
    encode_binary(Path::new("<memory>"), model)
}

/// Loads a model of type `T` from `path` (JSON or binary, detected from the content).
pub fn load<T: Model>(path: impl AsRef<Path>) -> Result<T> {
    let path = path.as_ref();
    let bytes = crate::limits::read_input(path)?;
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
///
/// The target must be absent or a regular file (a symlink to a regular file is followed and
/// its target replaced); anything else (a directory, a device node such as `/dev/null`, a
/// FIFO, a socket) is refused, because a rename would replace it. The temp file is listed
/// in the process's in-flight registry while it exists (see [`remove_temp_files`]). Inside
/// a group ([`begin_group`]), the rename waits for [`commit_group`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let (target, tmp) = stage_path(path)?;
    let result = (|| {
        let mut f = create_new(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = result {
        discard_temp(&tmp);
        return Err(Error::io(path, e));
    }
    finish_staged(tmp, target, path)
}

/// The file a write to `path` replaces (a symlink resolved) and a fresh temp path beside
/// it. Fails when `path` exists and is not a regular file.
pub fn stage_path(path: &Path) -> Result<(PathBuf, PathBuf)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let target = writable_target(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| Error::format(path, "not a file path"))?;
    let tmp = dir.join(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    Ok((target, tmp))
}

/// Creates `tmp` (which must not exist) and lists it in the in-flight registry.
pub fn create_new(tmp: &Path) -> std::io::Result<std::fs::File> {
    let mut temps = lock(&TEMPS);
    if CLOSED.load(Ordering::SeqCst) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "interrupted: no more files are written",
        ));
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)?;
    temps.push(tmp.to_path_buf());
    Ok(f)
}

/// Renames the written temp `tmp` onto `target` now, or at [`commit_group`] inside a group.
/// `path` (the name the caller gave) labels errors.
pub fn finish_staged(tmp: PathBuf, target: PathBuf, path: &Path) -> Result<()> {
    {
        let mut group = lock(&GROUP);
        if let Some(staged) = group.as_mut() {
            staged.push((tmp, target));
            return Ok(());
        }
    }
    let renamed = std::fs::rename(&tmp, &target);
    forget_temp(&tmp);
    renamed.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// `path` itself, or the file it links to; an error if that exists and is not a regular
/// file.
fn writable_target(path: &Path) -> Result<PathBuf> {
    let link = std::fs::symlink_metadata(path);
    let target = match &link {
        Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(t) => t,
            Err(e) => {
                return Err(Error::format(
                    path,
                    format!(
                        "is a symbolic link that cannot be followed ({e}); refusing to replace it"
                    ),
                ));
            }
        },
        _ => path.to_path_buf(),
    };
    match std::fs::metadata(&target) {
        Ok(m) if !m.is_file() => Err(Error::format(
            path,
            format!(
                "exists and is not a regular file ({}); refusing to replace it",
                file_kind(&m)
            ),
        )),
        _ => Ok(target),
    }
}

/// A short name for what a non-regular file is.
pub fn file_kind(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// Temp files written but not yet renamed into place.
static TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// Set by [`remove_temp_files`]: no temp file may be created any more.
static CLOSED: AtomicBool = AtomicBool::new(false);
/// The open group: temps waiting for [`commit_group`], with their targets.
static GROUP: Mutex<Option<Vec<(PathBuf, PathBuf)>>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn forget_temp(tmp: &Path) {
    lock(&TEMPS).retain(|t| t != tmp);
}

/// Removes `tmp` from disk and from the registry.
pub fn discard_temp(tmp: &Path) {
    let _ = std::fs::remove_file(tmp);
    forget_temp(tmp);
}

/// Removes every temp file this process has in flight (written or being written, not yet
/// renamed into place, including those of an open group) and returns how many it removed.
/// The library installs no signal handler: a program that wants interrupted runs to leave
/// nothing behind calls this from its own SIGINT/SIGTERM handler before exiting.
///
/// After this call no new temp file can be created: the writes that follow fail, so a
/// file cannot appear between the cleanup and the exit.
pub fn remove_temp_files() -> usize {
    let mut temps = lock(&TEMPS);
    CLOSED.store(true, Ordering::SeqCst);
    let mut n = 0;
    for t in temps.drain(..) {
        if std::fs::remove_file(&t).is_ok() {
            n += 1;
        }
    }
    n
}

/// Opens a group: from now on [`write_atomic`] (and so every file the crate writes) leaves
/// its complete temp file beside the target and renames nothing until [`commit_group`];
/// [`abandon_group`] removes them instead. A program that writes several outputs uses it so
/// that a failure half-way replaces none of them.
pub fn begin_group() {
    *lock(&GROUP) = Some(Vec::new());
}

/// Closes the group: renames every staged temp onto its target, in the order written.
pub fn commit_group() -> Result<()> {
    let staged = lock(&GROUP).take().unwrap_or_default();
    let mut first_err = None;
    for (tmp, target) in staged {
        if first_err.is_some() {
            discard_temp(&tmp);
            continue;
        }
        let renamed = std::fs::rename(&tmp, &target);
        forget_temp(&tmp);
        if let Err(e) = renamed {
            let _ = std::fs::remove_file(&tmp);
            first_err = Some(Error::io(&target, e));
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Closes the group without renaming anything: its temps are removed.
pub fn abandon_group() {
    let staged = lock(&GROUP).take().unwrap_or_default();
    for (tmp, _) in staged {
        discard_temp(&tmp);
    }
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
    let model = serde_json::from_str(env.model.get()).map_err(|e| {
        Error::format(
            path,
            format!("model does not decode as `{}`: {e}", T::kind()),
        )
    })?;
    checked(path, model)
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
    let model = T::from_postcard(payload).map_err(|e| {
        Error::format(
            path,
            format!(
                "the payload does not decode as a `{}` model (corrupt, or written by another \
                 version): {e}",
                T::kind()
            ),
        )
    })?;
    checked(path, model)
}
