//! The crate's one error type.
//!
//! Every fallible function in the library returns [`Result`]. Variants are structured so
//! callers (and tests) can match on them; messages are lowercase, one line, no trailing
//! period. Bad user input (images, model files, XML, parameters, datasets) always comes
//! back as one of these variants and never as a panic.

use std::path::PathBuf;

/// Everything that can go wrong in `classic_cv`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is outside its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParam {
        /// Field name of the parameter, as written in the params struct.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An operation received no samples (no images, no rows, no descriptors).
    #[error("empty input: {what}")]
    EmptyInput {
        /// What was empty.
        what: &'static str,
    },
    /// The number of inputs and the number of labels differ.
    #[error("length mismatch: {inputs} inputs but {labels} labels")]
    LengthMismatch {
        /// Number of inputs.
        inputs: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A vector or matrix has the wrong dimension.
    #[error("dimension mismatch in {what}: expected {expected}, found {found}")]
    DimensionMismatch {
        /// What was being compared.
        what: &'static str,
        /// Expected dimension.
        expected: usize,
        /// Dimension found.
        found: usize,
    },
    /// An image is too small for the requested operation.
    #[error("image of {width}x{height} is too small: needs at least {min_width}x{min_height}")]
    ImageTooSmall {
        /// Width of the image.
        width: usize,
        /// Height of the image.
        height: usize,
        /// Minimum width needed.
        min_width: usize,
        /// Minimum height needed.
        min_height: usize,
    },
    /// Training data contains fewer than two classes.
    #[error("too few classes: found {found}, need at least 2")]
    TooFewClasses {
        /// Number of distinct classes found.
        found: usize,
    },
    /// Input data contains NaN or infinite values.
    #[error("non-finite value in {what}")]
    NonFinite {
        /// Where the value was found.
        what: &'static str,
    },
    /// The data do not determine a solution: collinear or repeated points, a singular
    /// matrix, too few inliers, an optimisation that diverged.
    #[error("{what}: {reason}")]
    Degenerate {
        /// The computation that failed.
        what: &'static str,
        /// Why, with the numbers that show it.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An image file could not be decoded or encoded.
    #[error("{}: {reason}", path.display())]
    Image {
        /// The file involved.
        path: PathBuf,
        /// Decoder's explanation.
        reason: String,
    },
    /// A file's content does not follow its format.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file involved (may be empty for in-memory data).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A model file was written by an incompatible version of the crate.
    #[error("{}: model format version {found} is not supported (this build reads version {supported})", path.display())]
    IncompatibleModel {
        /// The file involved.
        path: PathBuf,
        /// Version found in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// A model file holds another kind of model than the one asked for.
    #[error("{}: holds a `{found}` model, expected `{expected}`", path.display())]
    WrongModelKind {
        /// The file involved.
        path: PathBuf,
        /// Kind stored in the file.
        found: String,
        /// Kind the caller asked for.
        expected: String,
    },
    /// An external tool (apt-get, pip) failed or is missing.
    #[error("{tool}: {reason}")]
    Tool {
        /// The tool's name.
        tool: String,
        /// What went wrong, and how to fix it.
        reason: String,
    },
    /// A downloaded or cached file does not have the expected checksum.
    #[error("{}: sha256 {found} does not match the expected {expected}", path.display())]
    Checksum {
        /// The file involved.
        path: PathBuf,
        /// Expected sha256 (hex).
        expected: String,
        /// sha256 found (hex).
        found: String,
    },
}

/// `std::result::Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::InvalidParam`].
    pub fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParam {
            name,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Format`].
    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Returns [`Error::NonFinite`] if any value is NaN or infinite.
pub fn check_finite(values: &[f32], what: &'static str) -> Result<()> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Error::NonFinite { what })
    }
}
