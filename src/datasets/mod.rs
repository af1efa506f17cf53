//! Dataset readers: Fashion-MNIST (IDX), image folders, dlib imglab box files.
//!
//! # Overview
//! A [`Dataset`] is a list of gray [`Image`]s with dense `u32` labels and the class names
//! those labels stand for. Class names are mapped to labels here, at the boundary, and
//! nowhere else.
//!
//! - [`fashion_mnist`] reads the four gzip-compressed IDX files of Fashion-MNIST
//!   (Xiao et al. 2017; 60,000 training and 10,000 test images, 28x28, 10 classes).
//! - [`image_folder`] reads `root/<class>/*` (PNG, JPEG, PGM), classes sorted by name and
//!   numbered from 0, files sorted by name within a class.
//! - [`read_imglab`] / [`write_imglab`] read and write the box files of dlib's `imglab` tool.
//!
//! # Usage
//! ```no_run
//! use classic_cv::datasets::{fashion_mnist, Split};
//! let train = fashion_mnist("data/cache/fashion-mnist", Split::Train).unwrap();
//! assert_eq!(train.len(), 60_000);
//! ```
//!
//! # Formats
//! IDX (LeCun's MNIST format): big-endian `u32` magic `0x00000803` (images: u8, 3 dims) or
//! `0x00000801` (labels: u8, 1 dim), then one big-endian `u32` per dimension, then the data.
//! Pixels are scaled by 1/255 into `[0, 1]`.
//!
//! imglab: `<dataset><images><image file='..'><box top='..' left='..' width='..'
//! height='..'/>...`; a box covers the pixels `[left, left+width) x [top, top+height)`.
//! Boxes may carry `ignore='1'` and a `<label>`. Coordinates may be negative (boxes that
//! cross the image border).

pub mod fetch;

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::image::{Image, Rect};
use crate::pipeline::Label;

/// Images with labels and the names of the classes.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The images.
    pub images: Vec<Image>,
    /// One label per image, in `0..class_names.len()`.
    pub labels: Vec<Label>,
    /// Name of each class, indexed by label.
    pub class_names: Vec<String>,
    /// Where each image came from (a file path, or `name:split:index`).
    pub sources: Vec<String>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// True when the dataset has no image.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Number of images of each class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The first `n` images (all of them if `n >= len`).
    pub fn truncate(mut self, n: usize) -> Self {
        self.images.truncate(n);
        self.labels.truncate(n);
        self.sources.truncate(n);
        self
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Self {
        Dataset {
            images: indices.iter().map(|&i| self.images[i].clone()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
            sources: indices.iter().map(|&i| self.sources[i].clone()).collect(),
        }
    }
}

/// Which part of a dataset with a fixed split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The training images.
    Train,
    /// The test images.
    Test,
}

/// Fashion-MNIST's class names, indexed by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Reads the Fashion-MNIST `split` from `dir` (which holds `train-images-idx3-ubyte.gz`,
/// `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`).
pub fn fashion_mnist(dir: impl AsRef<Path>, split: Split) -> Result<Dataset> {
    let dir = dir.as_ref();
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let images_path = dir.join(format!("{prefix}-images-idx3-ubyte.gz"));
    let labels_path = dir.join(format!("{prefix}-labels-idx1-ubyte.gz"));
    let (dims, pixels) = read_idx(&images_path, 3)?;
    let (ldims, labels) = read_idx(&labels_path, 1)?;
    let (n, h, w) = (dims[0], dims[1], dims[2]);
    if ldims[0] != n {
        return Err(Error::LengthMismatch {
            inputs: n,
            labels: ldims[0],
        });
    }
    if let Some(&bad) = labels
        .iter()
        .find(|&&l| l as usize >= FASHION_MNIST_CLASSES.len())
    {
        return Err(Error::format(
            &labels_path,
            format!("label {bad} is outside 0..10"),
        ));
    }
    let images = pixels
        .chunks_exact((h * w).max(1))
        .take(n)
        .map(|c| Image::from_u8(w, h, c))
        .collect::<Result<Vec<_>>>()?;
    let split_name = match split {
        Split::Train => "train",
        Split::Test => "test",
    };
    Ok(Dataset {
        images,
        labels: labels.into_iter().map(Label::from).collect(),
        class_names: FASHION_MNIST_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        sources: (0..n)
            .map(|i| format!("fashion-mnist:{split_name}:{i}"))
            .collect(),
    })
}

/// Reads a gzip-compressed (or plain) IDX file of `u8` values with `ndim` dimensions.
/// Returns the dimensions and the data.
pub fn read_idx(path: &Path, ndim: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    let raw = crate::limits::read_input(path)?;
    parse_idx(path, &raw, ndim)
}

/// Largest IDX payload read, in bytes (2^31; Fashion-MNIST's training images are 47 MB).
pub const MAX_IDX_BYTES: usize = 1 << 31;

/// Parses IDX bytes (gzip-compressed or plain) of `u8` values with `ndim` dimensions;
/// `path` labels errors. A gzip stream is decompressed only as far as the header's
/// dimensions justify (at most [`MAX_IDX_BYTES`]).
pub fn parse_idx(path: &Path, raw: &[u8], ndim: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    let header_len = 4 + 4 * ndim;
    let bytes: std::borrow::Cow<[u8]> = if raw.starts_with(&[0x1f, 0x8b]) {
        let gz_err =
            |e: std::io::Error| Error::format(path, format!("corrupt or truncated gzip data: {e}"));
        let mut dec = flate2::read::MultiGzDecoder::new(raw);
        let mut out = Vec::new();
        (&mut dec)
            .take(header_len as u64)
            .read_to_end(&mut out)
            .map_err(gz_err)?;
        let limit = idx_count(path, &out, ndim)
            .ok()
            .flatten()
            .map_or(0, |(_, count)| count.saturating_add(1));
        dec.take(limit as u64)
            .read_to_end(&mut out)
            .map_err(gz_err)?;
        out.into()
    } else {
        raw.into()
    };
    let (dims, count) = idx_count(path, &bytes, ndim)?
        .ok_or_else(|| Error::format(path, "truncated IDX header"))?;
    let data = &bytes[header_len..];
    if data.len() != count {
        return Err(Error::format(
            path,
            format!(
                "IDX dimensions {dims:?} need {count} bytes of data, file has {}",
                data.len()
            ),
        ));
    }
    Ok((dims, data.to_vec()))
}

/// The dimensions and the payload size an IDX header claims (`None` if the header is cut
/// short); an error for a wrong magic number or a payload over [`MAX_IDX_BYTES`].
fn idx_count(path: &Path, bytes: &[u8], ndim: usize) -> Result<Option<(Vec<usize>, usize)>> {
    let expected_magic = 0x0800 | ndim as u32;
    let magic = bytes
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| Error::format(path, "too short to be an IDX file"))?;
    if magic != expected_magic {
        return Err(Error::format(
            path,
            format!(
                "wrong IDX magic number 0x{magic:08x} (expected 0x{expected_magic:08x}: unsigned bytes, {ndim} dimension(s))"
            ),
        ));
    }
    let Some(header) = bytes.get(4..4 + 4 * ndim) else {
        return Ok(None);
    };
    let dims: Vec<usize> = header
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&c| c <= MAX_IDX_BYTES)
        .ok_or_else(|| {
            Error::format(
                path,
                format!("IDX dimensions {dims:?} claim more than {MAX_IDX_BYTES} bytes"),
            )
        })?;
    Ok(Some((dims, count)))
}

/// Reads `root/<class>/<image>`: each sub-directory is a class (sorted by name, labelled
/// from 0); every file in it with one of [`crate::image::IMAGE_EXTENSIONS`] is loaded as gray. Other files are
/// skipped; an unreadable image is an error naming the file.
pub fn image_folder(root: impl AsRef<Path>) -> Result<Dataset> {
    let root = root.as_ref();
    let mut classes: Vec<(String, PathBuf)> = read_dir_sorted(root)?
        .into_iter()
        .filter(|p| p.is_dir())
        .map(|p| {
            (
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                p,
            )
        })
        .collect();
    classes.sort();
    if classes.is_empty() {
        return Err(Error::format(
            root,
            "no class sub-directories (expected root/<class>/<image files>)",
        ));
    }
    let mut files = Vec::new();
    for (label, (_, dir)) in classes.iter().enumerate() {
        for p in read_dir_sorted(dir)? {
            if p.is_file() && crate::image::has_image_extension(&p) {
                files.push((p, label as Label));
            }
        }
    }
    if files.is_empty() {
        return Err(Error::EmptyInput {
            what: "image folder (no .png/.jpg/.pgm files in the class directories)",
        });
    }
    use rayon::prelude::*;
    let images = files
        .par_iter()
        .map(|(p, _)| Image::load(p))
        .collect::<Result<Vec<_>>>()?;
    Ok(Dataset {
        images,
        labels: files.iter().map(|(_, l)| *l).collect(),
        class_names: classes.into_iter().map(|(n, _)| n).collect(),
        sources: files
            .into_iter()
            .map(|(p, _)| p.to_string_lossy().into_owned())
            .collect(),
    })
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| Error::io(dir, e))?;
    out.sort();
    Ok(out)
}

/// One box of an imglab file. Coordinates may be negative or exceed the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImglabBox {
    /// Column of the left edge.
    pub left: i64,
    /// Row of the top edge.
    pub top: i64,
    /// Width in pixels.
    pub width: i64,
    /// Height in pixels.
    pub height: i64,
    /// `ignore='1'`: a box to neither reward nor penalise in evaluation.
    pub ignore: bool,
    /// Optional `<label>` text.
    pub label: Option<String>,
}

impl ImglabBox {
    /// The box clipped to an image of `width x height`; `None` if nothing remains.
    pub fn clipped(&self, width: usize, height: usize) -> Option<Rect> {
        let x0 = self.left.clamp(0, width as i64);
        let y0 = self.top.clamp(0, height as i64);
        let x1 = (self.left + self.width).clamp(0, width as i64);
        let y1 = (self.top + self.height).clamp(0, height as i64);
        (x1 > x0 && y1 > y0).then(|| Rect {
            x: x0 as u32,
            y: y0 as u32,
            width: (x1 - x0) as u32,
            height: (y1 - y0) as u32,
        })
    }
}

/// One image entry of an imglab file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImglabImage {
    /// Image path as written in the file (relative to the XML file's directory).
    pub file: String,
    /// Its boxes.
    pub boxes: Vec<ImglabBox>,
}

/// An imglab dataset: a name, a comment and images with boxes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Imglab {
    /// `<name>`.
    pub name: String,
    /// `<comment>`.
    pub comment: String,
    /// `<images>`.
    pub images: Vec<ImglabImage>,
}

/// Reads a dlib imglab XML file.
pub fn read_imglab(path: impl AsRef<Path>) -> Result<Imglab> {
    let path = path.as_ref();
    let bytes = crate::limits::read_input(path)?;
    // imglab writes ISO-8859-1; decode bytes as Latin-1 so any file parses.
    let text: String = match std::str::from_utf8(&bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    };
    parse_imglab(path, &text)
}

/// Parses imglab XML text (`path` labels errors).
pub fn parse_imglab(path: &Path, text: &str) -> Result<Imglab> {
    crate::limits::check_xml_depth(text, path)?;
    let doc = roxmltree::Document::parse(text)
        .map_err(|e| Error::format(path, format!("malformed XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "dataset" {
        return Err(Error::format(
            path,
            format!(
                "root element is <{}>, expected <dataset>",
                root.tag_name().name()
            ),
        ));
    }
    let child_text = |name: &str| {
        root.children()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .unwrap_or("")
            .to_string()
    };
    let mut out = Imglab {
        name: child_text("name"),
        comment: child_text("comment"),
        images: Vec::new(),
    };
    let Some(images) = root.children().find(|n| n.has_tag_name("images")) else {
        return Ok(out);
    };
    for img in images.children().filter(|n| n.has_tag_name("image")) {
        let file = img
            .attribute("file")
            .ok_or_else(|| Error::format(path, "an <image> has no file attribute"))?
            .to_string();
        let mut boxes = Vec::new();
        for b in img.children().filter(|n| n.has_tag_name("box")) {
            let num = |name: &str| -> Result<i64> {
                let v = b.attribute(name).ok_or_else(|| {
                    Error::format(path, format!("a <box> of {file} has no `{name}`"))
                })?;
                v.trim().parse().map_err(|_| {
                    Error::format(
                        path,
                        format!("a <box> of {file} has {name}='{v}', not an integer"),
                    )
                })
            };
            let (width, height) = (num("width")?, num("height")?);
            if width <= 0 || height <= 0 {
                return Err(Error::format(
                    path,
                    format!("a <box> of {file} has an empty size ({width}x{height})"),
                ));
            }
            boxes.push(ImglabBox {
                left: num("left")?,
                top: num("top")?,
                width,
                height,
                ignore: matches!(b.attribute("ignore"), Some("1") | Some("true")),
                label: b
                    .children()
                    .find(|n| n.has_tag_name("label"))
                    .and_then(|n| n.text())
                    .map(str::to_string),
            });
        }
        out.images.push(ImglabImage { file, boxes });
    }
    Ok(out)
}

/// Writes an imglab XML file (atomically) that dlib's tools and [`read_imglab`] read.
pub fn write_imglab(path: impl AsRef<Path>, data: &Imglab) -> Result<()> {
    let mut s = String::from(
        "<?xml version='1.0' encoding='ISO-8859-1'?>\n<?xml-stylesheet type='text/xsl' href='image_metadata_stylesheet.xsl'?>\n<dataset>\n",
    );
    s.push_str(&format!("<name>{}</name>\n", xml_escape(&data.name)));
    s.push_str(&format!(
        "<comment>{}</comment>\n",
        xml_escape(&data.comment)
    ));
    s.push_str("<images>\n");
    for img in &data.images {
        s.push_str(&format!("  <image file='{}'>\n", xml_escape(&img.file)));
        for b in &img.boxes {
            let ignore = if b.ignore { " ignore='1'" } else { "" };
            let open = format!(
                "    <box top='{}' left='{}' width='{}' height='{}'{ignore}",
                b.top, b.left, b.width, b.height
            );
            match &b.label {
                Some(l) => s.push_str(&format!(
                    "{open}>\n      <label>{}</label>\n    </box>\n",
                    xml_escape(l)
                )),
                None => s.push_str(&format!("{open}/>\n")),
            }
        }
        s.push_str("  </image>\n");
    }
    s.push_str("</images>\n</dataset>\n");
    // Characters outside Latin-1 cannot be written in the declared encoding: use references.
    let latin1: Vec<u8> = s
        .chars()
        .flat_map(|c| match u8::try_from(c as u32) {
            Ok(b) => vec![b],
            Err(_) => format!("&#{};", c as u32).into_bytes(),
        })
        .collect();
    crate::persist::write_atomic(path.as_ref(), &latin1)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imglab_round_trip_with_labels_and_escapes() {
        let data = Imglab {
            name: "faces & more".into(),
            comment: "é <ok>".into(),
            images: vec![
                ImglabImage {
                    file: "a'b.jpg".into(),
                    boxes: vec![
                        ImglabBox {
                            left: -3,
                            top: 4,
                            width: 10,
                            height: 11,
                            ignore: false,
                            label: None,
                        },
                        ImglabBox {
                            left: 1,
                            top: 2,
                            width: 3,
                            height: 4,
                            ignore: true,
                            label: Some("face".into()),
                        },
                    ],
                },
                ImglabImage {
                    file: "empty.png".into(),
                    boxes: vec![],
                },
            ],
        };
        let dir = std::env::temp_dir().join(format!("ccv-imglab-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("boxes.xml");
        write_imglab(&p, &data).unwrap();
        assert_eq!(read_imglab(&p).unwrap(), data);
    }

    #[test]
    fn clipping_boxes() {
        let b = ImglabBox {
            left: -5,
            top: 2,
            width: 10,
            height: 100,
            ignore: false,
            label: None,
        };
        assert_eq!(
            b.clipped(20, 50),
            Some(Rect {
                x: 0,
                y: 2,
                width: 5,
                height: 48
            })
        );
        let outside = ImglabBox {
            left: 30,
            top: 0,
            width: 5,
            height: 5,
            ignore: false,
            label: None,
        };
        assert_eq!(outside.clipped(20, 20), None);
    }

    #[test]
    fn malformed_imglab_is_an_error() {
        let p = Path::new("x.xml");
        assert!(parse_imglab(p, "<dataset><images><image file='a'><box top='x' left='0' width='1' height='1'/></image></images></dataset>").is_err());
        assert!(parse_imglab(p, "<dataset><images>").is_err());
        assert!(parse_imglab(p, "<other/>").is_err());
    }
}
