//! The resource policy: the explicit bounds every size read from untrusted input must obey.
//!
//! # Overview
//! A file header, a flag or a model file can claim any size; the crate allocates only what
//! these limits allow, and checks the claim before allocating anything derived from it.
//!
//! - Images: at most [`max_pixels`] pixels (default [`DEFAULT_MAX_PIXELS`], 2^28, a
//!   16384 x 16384 image), checked from the header before decoding and from `WxH` sizes
//!   before any frame buffer exists. [`set_max_pixels`] raises or lowers it for the whole
//!   process (the CLI's `--max-pixels`).
//! - XML: at most [`MAX_XML_DEPTH`] levels of nested elements, checked by a flat scan before
//!   the document is parsed (the parser and the readers walk the tree recursively; OpenCV
//!   cascades and dlib imglab files nest fewer than 10 levels).
//! - Thread pools: at most [`MAX_THREADS`] workers.
//! - Class labels: at most [`MAX_CLASSES`] classes (labels `0..MAX_CLASSES`), in training
//!   sets and in model files.
//! - Encodings: at most [`MAX_ENCODING_DIM`] values per image, checked from the codebook
//!   size, the pyramid and the kernel map before anything is encoded.
//!
//! # Usage
//! ```
//! use classic_cv::limits;
//! assert_eq!(limits::check_image_size(640, 480).unwrap(), 640 * 480);
//! assert!(limits::check_image_size(1 << 20, 1 << 20).is_err());
//! ```

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Default largest image, in pixels: 2^28 (16384 x 16384; about 1 GiB as `f32`).
pub const DEFAULT_MAX_PIXELS: u64 = 1 << 28;
/// Deepest nesting of XML elements any reader accepts.
pub const MAX_XML_DEPTH: usize = 256;
/// Largest thread pool.
pub const MAX_THREADS: usize = 1024;
/// Most epochs of any iterative trainer (CNN, softmax regression).
pub const MAX_EPOCHS: usize = 100_000;
/// Most trees of a forest.
pub const MAX_TREES: usize = 10_000;
/// Most classes a training set or a model may have (labels `0..MAX_CLASSES`).
pub const MAX_CLASSES: usize = 1 << 16;
/// Longest image encoding (BoVW, VLAD or Fisher vector, pyramid and kernel map included)
/// a configuration or a model file may ask for: 2^26 values (256 MiB as `f32`).
pub const MAX_ENCODING_DIM: usize = 1 << 26;

static MAX_PIXELS: AtomicU64 = AtomicU64::new(DEFAULT_MAX_PIXELS);

/// The largest image, in pixels, that the crate decodes or allocates.
pub fn max_pixels() -> u64 {
    MAX_PIXELS.load(Ordering::Relaxed)
}

/// Sets [`max_pixels`] for the whole process (at least 1).
pub fn set_max_pixels(pixels: u64) -> Result<()> {
    if pixels == 0 {
        return Err(Error::param("max_pixels", "must be at least 1"));
    }
    MAX_PIXELS.store(pixels, Ordering::Relaxed);
    Ok(())
}

/// `width * height`, if it neither overflows nor exceeds [`max_pixels`].
pub fn check_image_size(width: usize, height: usize) -> Result<usize> {
    let n = (width as u128) * (height as u128);
    if n > max_pixels() as u128 {
        return Err(Error::param(
            "max_pixels",
            format!(
                "an image of {width}x{height} has {n} pixels, more than the limit of {} \
                 (raise it with --max-pixels)",
                max_pixels()
            ),
        ));
    }
    Ok(n as usize)
}

/// Checks that `text` nests elements at most [`MAX_XML_DEPTH`] deep, with a flat scan that
/// skips comments, CDATA, processing instructions, declarations and quoted attribute
/// values. Malformed markup is left for the parser to report.
pub fn check_xml_depth(text: &str, path: &Path) -> Result<()> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    let skip_to = |from: usize, end: &[u8]| -> usize {
        b[from..]
            .windows(end.len())
            .position(|w| w == end)
            .map_or(b.len(), |p| from + p + end.len())
    };
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &b[i..];
        if rest.starts_with(b"<!--") {
            i = skip_to(i + 4, b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_to(i + 9, b"]]>");
        } else if rest.starts_with(b"<?") {
            i = skip_to(i + 2, b"?>");
        } else if rest.starts_with(b"<!") {
            i = skip_to(i + 2, b">");
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            i = skip_to(i + 2, b">");
        } else {
            // A start tag: find its end outside quoted attribute values.
            let mut j = i + 1;
            let mut quote = None;
            while j < b.len() {
                match (quote, b[j]) {
                    (None, q @ (b'"' | b'\'')) => quote = Some(q),
                    (Some(q), c) if c == q => quote = None,
                    (None, b'>') => break,
                    _ => {}
                }
                j += 1;
            }
            if j >= b.len() || b[j - 1] != b'/' {
                depth += 1;
                if depth > MAX_XML_DEPTH {
                    return Err(Error::format(
                        path,
                        format!("XML nests elements more than {MAX_XML_DEPTH} levels deep"),
                    ));
                }
            }
            i = j + 1;
        }
    }
    Ok(())
}

/// Reads a whole input file. Only regular files are read (a FIFO, a device such as
/// `/dev/zero` or a directory is refused instead of being read without end).
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::format(
            path,
            format!(
                "is {}, not a regular file",
                crate::persist::file_kind(&meta)
            ),
        ));
    }
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Fails unless `label` is below [`MAX_CLASSES`]; `what` names where it was found.
pub fn check_label(label: u32, what: &str) -> Result<()> {
    if label as usize >= MAX_CLASSES {
        return Err(Error::param(
            "labels",
            format!(
                "{what}: label {label} is too large (labels are class indices below {MAX_CLASSES})"
            ),
        ));
    }
    Ok(())
}

/// Fails unless a model's claimed class count is between 1 and [`MAX_CLASSES`].
pub fn check_class_count(n: usize, what: &str) -> Result<()> {
    if n == 0 || n > MAX_CLASSES {
        return Err(Error::param(
            "n_classes",
            format!("{what}: {n} classes (must be 1 to {MAX_CLASSES})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize) -> String {
        format!("<r>{}{}</r>", "<a>".repeat(n), "</a>".repeat(n))
    }

    #[test]
    fn xml_depth_counts_only_open_elements() {
        let p = Path::new("t.xml");
        assert!(check_xml_depth(&nested(MAX_XML_DEPTH - 1), p).is_ok());
        assert!(check_xml_depth(&nested(MAX_XML_DEPTH), p).is_err());
        // Self-closing tags, comments, CDATA and '>' inside attributes do not nest.
        let flat = format!(
            "<?xml version=\"1.0\"?><r>{}<!-- <a><a> --><![CDATA[<a><a>]]><b x='>'/></r>",
            "<c/>".repeat(10_000)
        );
        assert!(check_xml_depth(&flat, p).is_ok());
        let siblings = "<r>".to_string() + &"<a></a>".repeat(10_000) + "</r>";
        assert!(check_xml_depth(&siblings, p).is_ok());
    }

    #[test]
    fn image_size_limit_is_checked_without_overflow() {
        assert!(check_image_size(usize::MAX, usize::MAX).is_err());
        assert!(check_image_size(1 << 14, 1 << 14).is_ok());
        assert!(check_image_size((1 << 14) + 1, 1 << 14).is_err());
    }
}
