//! Camera files: the crate's model file (`persist`, kind `"camera"`) and OpenCV's
//! `FileStorage` YAML and XML, so a calibration moves between classic-cv and OpenCV.
//!
//! # Formats
//! - Model file: [`persist::save`](crate::persist::save) of the [`Camera`] (JSON for `.json`,
//!   the checksummed binary otherwise).
//! - OpenCV YAML (`.yml`, `.yaml`), as `cv::FileStorage` writes and reads it:
//!   ```text
//!   %YAML:1.0
//!   ---
//!   image_width: 640
//!   image_height: 480
//!   camera_matrix: !!opencv-matrix
//!      rows: 3
//!      cols: 3
//!      dt: d
//!      data: [ 536.07, 0.0, 342.37, 0.0, 536.02, 235.54, 0.0, 0.0, 1.0 ]
//!   distortion_coefficients: !!opencv-matrix
//!      rows: 1
//!      cols: 5
//!      dt: d
//!      data: [ -0.265, -0.0467, 0.00183, -0.000315, 0.252 ]
//!   ```
//! - OpenCV XML (`.xml`): `<opencv_storage>` holding `<image_width>`, `<image_height>` and
//!   the two matrices as `<camera_matrix type_id="opencv-matrix">` with `<rows>`, `<cols>`,
//!   `<dt>`, `<data>` children.
//!
//! The names are those of OpenCV's calibration sample. Reading detects the format from the
//! content (`%YAML`, `<`, or the model file's envelope), never from the extension. Matrices
//! are row-major; `camera_matrix` must be 3x3 with the bottom row `0 0 1`;
//! `distortion_coefficients` holds OpenCV's `k1, k2, p1, p2[, k3]` (1xN or Nx1; longer
//! vectors of OpenCV's rational and thin-prism models are accepted only when the extra
//! coefficients are zero). Other entries (OpenCV's sample also writes the calibration time,
//! flags, per-view errors, extrinsics) are skipped.
//!
//! # Limits
//! Files over [`MAX_CAMERA_FILE_BYTES`] are refused before parsing; XML nested deeper than
//! [`crate::limits::MAX_XML_DEPTH`] elements is refused before it reaches the XML parser, which then runs
//! with DTDs off and a node limit; the YAML reader is a line-by-line reader of exactly the
//! subset above (top-level scalars and `!!opencv-matrix` maps, flow sequences of numbers),
//! and a matrix may hold at most [`MAX_MATRIX_ELEMENTS`] numbers.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::geometry::camera::{Camera, Distortion, Intrinsics, MAX_CAMERA_SIDE};

/// Largest camera file read.
pub const MAX_CAMERA_FILE_BYTES: usize = 1 << 20;
/// Most numbers one `opencv-matrix` may hold.
pub const MAX_MATRIX_ELEMENTS: usize = 1 << 16;

/// What a camera file should contain, for error messages.
const EXPECTED: &str = "expected a camera file: a classic-cv camera model (JSON or binary), \
                        or an OpenCV FileStorage YAML/XML with camera_matrix, \
                        distortion_coefficients, image_width and image_height";

/// The formats of a camera file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CameraFileFormat {
    /// The crate's model file (`persist`, kind `"camera"`): JSON or binary.
    Model,
    /// OpenCV `FileStorage` YAML.
    OpenCvYaml,
    /// OpenCV `FileStorage` XML.
    OpenCvXml,
}

impl CameraFileFormat {
    /// The format written for a path: `.yml` / `.yaml` OpenCV YAML, `.xml` OpenCV XML,
    /// anything else the model file (JSON for `.json`).
    pub fn from_path(path: &Path) -> Self {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "yml" | "yaml" => CameraFileFormat::OpenCvYaml,
            "xml" => CameraFileFormat::OpenCvXml,
            _ => CameraFileFormat::Model,
        }
    }

    /// A short description, e.g. for "wrote camera.yml (OpenCV FileStorage YAML)".
    pub fn describe(&self) -> &'static str {
        match self {
            CameraFileFormat::Model => "classic-cv camera model",
            CameraFileFormat::OpenCvYaml => "OpenCV FileStorage YAML",
            CameraFileFormat::OpenCvXml => "OpenCV FileStorage XML",
        }
    }
}

/// Writes `camera` to `path` in the format its extension names (see
/// [`CameraFileFormat::from_path`]); atomic. Returns the format written.
pub fn save_camera(path: impl AsRef<Path>, camera: &Camera) -> Result<CameraFileFormat> {
    let path = path.as_ref();
    camera.validate()?;
    let format = CameraFileFormat::from_path(path);
    match format {
        CameraFileFormat::Model => crate::persist::save(path, camera)?,
        CameraFileFormat::OpenCvYaml => {
            crate::persist::write_atomic(path, camera_to_opencv_yaml(camera).as_bytes())?
        }
        CameraFileFormat::OpenCvXml => {
            crate::persist::write_atomic(path, camera_to_opencv_xml(camera).as_bytes())?
        }
    }
    Ok(format)
}

/// Reads a camera file of any of the three formats (detected from the content).
pub fn load_camera(path: impl AsRef<Path>) -> Result<Camera> {
    let path = path.as_ref();
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if size > MAX_CAMERA_FILE_BYTES as u64 {
        return Err(Error::format(
            path,
            format!("{size} bytes is over the {MAX_CAMERA_FILE_BYTES}-byte limit of a camera file"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_camera(path, &bytes).map(|(camera, _)| camera)
}

/// Parses camera-file bytes (`path` only names them in errors): the camera and the format
/// it was in.
pub fn parse_camera(path: &Path, bytes: &[u8]) -> Result<(Camera, CameraFileFormat)> {
    if bytes.len() > MAX_CAMERA_FILE_BYTES {
        return Err(Error::format(
            path,
            format!("over the {MAX_CAMERA_FILE_BYTES}-byte limit of a camera file"),
        ));
    }
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let head = &bytes[start..];
    let text = || {
        std::str::from_utf8(head)
            .map_err(|_| Error::format(path, format!("not UTF-8 text; {EXPECTED}")))
    };
    let (camera, format) = if head.starts_with(b"%YAML") {
        (parse_yaml(path, text()?)?, CameraFileFormat::OpenCvYaml)
    } else if head.starts_with(b"<") {
        (parse_xml(path, text()?)?, CameraFileFormat::OpenCvXml)
    } else if head.starts_with(b"{") || head.starts_with(b"CCVMODEL") {
        let camera = crate::persist::decode::<Camera>(path, bytes).map_err(|e| match e {
            Error::Format { path, reason } => Error::Format {
                path,
                reason: format!("{reason} ({EXPECTED})"),
            },
            other => other,
        })?;
        (camera, CameraFileFormat::Model)
    } else {
        return Err(Error::format(path, format!("unknown format; {EXPECTED}")));
    };
    camera
        .validate()
        .map_err(|e| Error::format(path, format!("invalid camera: {e}")))?;
    Ok((camera, format))
}

/// A number as OpenCV reads it back exactly (Rust's shortest round-trip form, which always
/// has a `.` or an exponent).
fn number(v: f64) -> String {
    format!("{v:?}")
}

fn matrix_data(camera: &Camera) -> ([f64; 9], [f64; 5]) {
    let k = camera.intrinsics.matrix();
    (
        std::array::from_fn(|i| k[i / 3][i % 3]),
        camera.distortion.coefficients(),
    )
}

/// The camera as OpenCV `FileStorage` YAML (see the module docs).
pub fn camera_to_opencv_yaml(camera: &Camera) -> String {
    let (k, d) = matrix_data(camera);
    let mut s = String::from("%YAML:1.0\n---\n");
    let _ = writeln!(s, "image_width: {}", camera.image_size[0]);
    let _ = writeln!(s, "image_height: {}", camera.image_size[1]);
    for (name, rows, cols, data) in [
        ("camera_matrix", 3, 3, &k[..]),
        ("distortion_coefficients", 1, 5, &d[..]),
    ] {
        let data: Vec<String> = data.iter().map(|&v| number(v)).collect();
        let _ = write!(
            s,
            "{name}: !!opencv-matrix\n   rows: {rows}\n   cols: {cols}\n   dt: d\n   data: [ {} ]\n",
            data.join(", ")
        );
    }
    s
}

/// The camera as OpenCV `FileStorage` XML (see the module docs).
pub fn camera_to_opencv_xml(camera: &Camera) -> String {
    let (k, d) = matrix_data(camera);
    let mut s = String::from("<?xml version=\"1.0\"?>\n<opencv_storage>\n");
    let _ = writeln!(s, "<image_width>{}</image_width>", camera.image_size[0]);
    let _ = writeln!(s, "<image_height>{}</image_height>", camera.image_size[1]);
    for (name, rows, cols, data) in [
        ("camera_matrix", 3, 3, &k[..]),
        ("distortion_coefficients", 1, 5, &d[..]),
    ] {
        let data: Vec<String> = data.iter().map(|&v| number(v)).collect();
        let _ = writeln!(
            s,
            "<{name} type_id=\"opencv-matrix\">\n  <rows>{rows}</rows>\n  <cols>{cols}</cols>\n  \
             <dt>d</dt>\n  <data>\n    {}</data></{name}>",
            data.join(" ")
        );
    }
    s.push_str("</opencv_storage>\n");
    s
}

/// An `opencv-matrix` as read.
struct CvMatrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

/// The entries a camera needs, gathered from either OpenCV format.
#[derive(Default)]
struct Entries {
    width: Option<usize>,
    height: Option<usize>,
    camera_matrix: Option<CvMatrix>,
    distortion: Option<CvMatrix>,
}

impl Entries {
    fn into_camera(self, path: &Path, what: &str) -> Result<Camera> {
        let missing =
            |name: &str| Error::format(path, format!("{what} has no `{name}` entry; {EXPECTED}"));
        let k = self.camera_matrix.ok_or_else(|| missing("camera_matrix"))?;
        let d = self
            .distortion
            .ok_or_else(|| missing("distortion_coefficients"))?;
        let width = self.width.ok_or_else(|| missing("image_width"))?;
        let height = self.height.ok_or_else(|| missing("image_height"))?;
        if (k.rows, k.cols) != (3, 3) {
            return Err(Error::format(
                path,
                format!("camera_matrix is {}x{}, expected 3x3", k.rows, k.cols),
            ));
        }
        if d.rows != 1 && d.cols != 1 {
            return Err(Error::format(
                path,
                "distortion_coefficients must be a row or column vector",
            ));
        }
        let coeffs = &d.data;
        if ![4, 5, 8, 12, 14].contains(&coeffs.len()) {
            return Err(Error::format(
                path,
                format!(
                    "distortion_coefficients has {} values; OpenCV's counts are 4, 5, 8, 12 or 14",
                    coeffs.len()
                ),
            ));
        }
        if coeffs.iter().skip(5).any(|&c| c != 0.0) {
            return Err(Error::format(
                path,
                "distortion_coefficients use OpenCV's rational or thin-prism terms \
                 (k4.. non-zero), which this camera model does not have",
            ));
        }
        let m: [[f64; 3]; 3] = std::array::from_fn(|i| std::array::from_fn(|j| k.data[i * 3 + j]));
        let intrinsics = Intrinsics::from_matrix(&m)
            .map_err(|e| Error::format(path, format!("camera_matrix: {e}")))?;
        let distortion = Distortion::from_coefficients(&coeffs[..coeffs.len().min(5)])
            .map_err(|e| Error::format(path, format!("distortion_coefficients: {e}")))?;
        Ok(Camera {
            intrinsics,
            distortion,
            image_size: [width, height],
        })
    }
}

fn parse_size_value(path: &Path, name: &str, text: &str) -> Result<usize> {
    match text.trim().parse::<usize>() {
        Ok(v) if v > 0 && v <= MAX_CAMERA_SIDE => Ok(v),
        _ => Err(Error::format(
            path,
            format!(
                "`{name}` must be an integer in 1..={MAX_CAMERA_SIDE}, got `{}`",
                text.trim()
            ),
        )),
    }
}

/// Checks the header fields of a matrix and parses its numbers.
fn make_matrix(
    path: &Path,
    name: &str,
    rows: &str,
    cols: &str,
    dt: &str,
    data: &str,
) -> Result<CvMatrix> {
    let bad = |reason: String| Error::format(path, format!("`{name}`: {reason}"));
    let dim = |t: &str| {
        t.trim()
            .parse::<usize>()
            .ok()
            .filter(|v| (1..=MAX_MATRIX_ELEMENTS).contains(v))
            .ok_or_else(|| bad(format!("bad matrix dimension `{}`", t.trim())))
    };
    let (rows, cols) = (dim(rows)?, dim(cols)?);
    let count = rows
        .checked_mul(cols)
        .filter(|&n| n <= MAX_MATRIX_ELEMENTS)
        .ok_or_else(|| {
            bad(format!(
                "{rows}x{cols} is over {MAX_MATRIX_ELEMENTS} elements"
            ))
        })?;
    if !matches!(dt.trim(), "d" | "f" | "i" | "s" | "u" | "w" | "c") {
        return Err(bad(format!(
            "element type `{}` is not a number type",
            dt.trim()
        )));
    }
    let mut values = Vec::with_capacity(count);
    for tok in data
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
    {
        if values.len() == count {
            return Err(bad(format!("more than {rows}x{cols} values")));
        }
        let v = match tok {
            ".Inf" | ".inf" | "-.Inf" | "-.inf" | ".Nan" | ".nan" => f64::NAN,
            t => t
                .parse::<f64>()
                .map_err(|_| bad(format!("`{t}` is not a number")))?,
        };
        if !v.is_finite() {
            return Err(Error::NonFinite {
                what: "camera file matrix",
            });
        }
        values.push(v);
    }
    if values.len() != count {
        return Err(bad(format!(
            "{} values for a {rows}x{cols} matrix",
            values.len()
        )));
    }
    Ok(CvMatrix {
        rows,
        cols,
        data: values,
    })
}

/// Removes a YAML comment (a `#` at the start or after a space, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted && prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = c;
    }
    line
}

/// Reads the subset of OpenCV's YAML described in the module docs.
fn parse_yaml(path: &Path, text: &str) -> Result<Camera> {
    let err = |line: usize, reason: String| {
        Error::format(path, format!("OpenCV YAML line {}: {reason}", line + 1))
    };
    let lines: Vec<&str> = text.lines().map(strip_comment).collect();
    let header = lines.first().map(|l| l.trim()).unwrap_or("");
    if !(header.starts_with("%YAML:1.") || header.starts_with("%YAML 1.")) {
        return Err(err(
            0,
            format!("expected the header %YAML:1.0, found `{header}`"),
        ));
    }
    let mut entries = Entries::default();
    let mut seen = std::collections::BTreeSet::new();
    let mut i = 1;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed == "---" || trimmed == "..." || trimmed.starts_with('%') {
            i += 1;
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            return Err(err(i, "indented line outside a map".into()));
        }
        let (key, rest) = trimmed
            .split_once(':')
            .ok_or_else(|| err(i, format!("expected `key: value`, found `{trimmed}`")))?;
        let (key, rest) = (key.trim(), rest.trim());
        if !seen.insert(key.to_string()) {
            return Err(err(i, format!("`{key}` appears twice")));
        }
        // The block of indented lines that belongs to this entry.
        let mut end = i + 1;
        while end < lines.len()
            && (lines[end].trim().is_empty() || lines[end].starts_with(char::is_whitespace))
        {
            end += 1;
        }
        let block = &lines[i + 1..end];
        let wanted = matches!(
            key,
            "camera_matrix" | "distortion_coefficients" | "image_width" | "image_height"
        );
        if wanted && rest.starts_with("!!opencv-matrix") {
            let m = yaml_matrix(path, key, block).map_err(|e| match e {
                Error::Format { reason, .. } => err(i, reason),
                other => other,
            })?;
            match key {
                "camera_matrix" => entries.camera_matrix = Some(m),
                "distortion_coefficients" => entries.distortion = Some(m),
                _ => return Err(err(i, format!("`{key}` must be an integer, not a matrix"))),
            }
        } else if key == "image_width" || key == "image_height" {
            let v = parse_size_value(path, key, rest)?;
            if key == "image_width" {
                entries.width = Some(v);
            } else {
                entries.height = Some(v);
            }
        } else if wanted {
            return Err(err(i, format!("`{key}` must be an !!opencv-matrix")));
        }
        i = end;
    }
    entries.into_camera(path, "OpenCV YAML")
}

/// The `rows`, `cols`, `dt`, `data` fields of an `!!opencv-matrix` block.
fn yaml_matrix(path: &Path, name: &str, block: &[&str]) -> Result<CvMatrix> {
    let (mut rows, mut cols, mut dt, mut data) = (None, None, None, None);
    let mut k = 0;
    while k < block.len() {
        let t = block[k].trim();
        k += 1;
        if t.is_empty() {
            continue;
        }
        let (field, value) = t.split_once(':').ok_or_else(|| {
            Error::format(
                path,
                format!("`{name}`: expected `field: value`, found `{t}`"),
            )
        })?;
        let value = value.trim();
        match field.trim() {
            "rows" => rows = Some(value.to_string()),
            "cols" => cols = Some(value.to_string()),
            "dt" => dt = Some(value.to_string()),
            "data" => {
                let mut text = value.to_string();
                while !text.contains(']') && k < block.len() {
                    text.push(' ');
                    text.push_str(block[k].trim());
                    k += 1;
                }
                let inner = text
                    .strip_prefix('[')
                    .and_then(|t| t.trim_end().strip_suffix(']'))
                    .ok_or_else(|| {
                        Error::format(path, format!("`{name}`: data must be a [ ... ] list"))
                    })?;
                data = Some(inner.to_string());
            }
            other => {
                return Err(Error::format(
                    path,
                    format!("`{name}`: unknown matrix field `{other}`"),
                ));
            }
        }
    }
    let need = |v: Option<String>, f: &str| {
        v.ok_or_else(|| Error::format(path, format!("`{name}`: matrix without `{f}`")))
    };
    make_matrix(
        path,
        name,
        &need(rows, "rows")?,
        &need(cols, "cols")?,
        &need(dt, "dt")?,
        &need(data, "data")?,
    )
}

/// Reads OpenCV's XML `FileStorage` (see the module docs).
fn parse_xml(path: &Path, text: &str) -> Result<Camera> {
    crate::limits::check_xml_depth(text, path)?;
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 100_000,
    };
    let doc = roxmltree::Document::parse_with_options(text, opts)
        .map_err(|e| Error::format(path, format!("malformed XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "opencv_storage" {
        return Err(Error::format(
            path,
            format!(
                "XML root is <{}>, not <opencv_storage>; {EXPECTED}",
                root.tag_name().name()
            ),
        ));
    }
    let text_of = |n: roxmltree::Node| -> String {
        n.descendants()
            .filter(|d| d.is_text())
            .map(|d| d.text().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut entries = Entries::default();
    for node in root.children().filter(|c| c.is_element()) {
        let name = node.tag_name().name();
        match name {
            "image_width" | "image_height" => {
                let v = parse_size_value(path, name, &text_of(node))?;
                if name == "image_width" {
                    entries.width = Some(v);
                } else {
                    entries.height = Some(v);
                }
            }
            "camera_matrix" | "distortion_coefficients" => {
                if node.attribute("type_id") != Some("opencv-matrix") {
                    return Err(Error::format(
                        path,
                        format!("<{name}> is not an opencv-matrix (type_id=\"opencv-matrix\")"),
                    ));
                }
                let field = |f: &str| {
                    node.children()
                        .find(|c| c.is_element() && c.tag_name().name() == f)
                        .map(text_of)
                        .ok_or_else(|| {
                            Error::format(path, format!("`{name}`: matrix without <{f}>"))
                        })
                };
                let m = make_matrix(
                    path,
                    name,
                    &field("rows")?,
                    &field("cols")?,
                    &field("dt")?,
                    &field("data")?,
                )?;
                if name == "camera_matrix" {
                    entries.camera_matrix = Some(m);
                } else {
                    entries.distortion = Some(m);
                }
            }
            _ => {}
        }
    }
    entries.into_camera(path, "OpenCV XML")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by OpenCV 4.14's `cv2.FileStorage` (the anchor calibration of the left views).
    const OPENCV_YAML: &str = "%YAML:1.0
---
image_width: 640
image_height: 480
camera_matrix: !!opencv-matrix
   rows: 3
   cols: 3
   dt: d
   data: [ 536.07343325246336, 0., 342.37047296527999, 0.,
       536.01634150265522, 235.53687525680917, 0., 0., 1. ]
distortion_coefficients: !!opencv-matrix
   rows: 1
   cols: 5
   dt: d
   data: [ -0.26509009115259541, -0.046744414906763357,
       0.0018330264280978911, -0.00031469286536299783,
       0.25231620028589336 ]
";

    /// The same camera as OpenCV 4.14 writes it in XML.
    const OPENCV_XML: &str = r#"<?xml version="1.0"?>
<opencv_storage>
<image_width>640</image_width>
<image_height>480</image_height>
<camera_matrix type_id="opencv-matrix">
  <rows>3</rows>
  <cols>3</cols>
  <dt>d</dt>
  <data>
    536.07343325246336 0. 342.37047296527999 0. 536.01634150265522
    235.53687525680917 0. 0. 1.</data></camera_matrix>
<distortion_coefficients type_id="opencv-matrix">
  <rows>1</rows>
  <cols>5</cols>
  <dt>d</dt>
  <data>
    -0.26509009115259541 -0.046744414906763357 0.0018330264280978911
    -0.00031469286536299783 0.25231620028589336</data></distortion_coefficients>
</opencv_storage>
"#;

    fn anchor_camera() -> Camera {
        Camera {
            intrinsics: Intrinsics {
                fx: 536.0734332524634,
                fy: 536.0163415026552,
                cx: 342.37047296528,
                cy: 235.53687525680917,
                skew: 0.0,
            },
            distortion: Distortion {
                k1: -0.2650900911525954,
                k2: -0.04674441490676336,
                p1: 0.001833026428097891,
                p2: -0.00031469286536299783,
                k3: 0.25231620028589336,
            },
            image_size: [640, 480],
        }
    }

    fn parse(text: &str) -> Result<(Camera, CameraFileFormat)> {
        parse_camera(Path::new("cam"), text.as_bytes())
    }

    fn message(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn opencvs_files_read_exactly() {
        assert_eq!(
            parse(OPENCV_YAML).unwrap(),
            (anchor_camera(), CameraFileFormat::OpenCvYaml)
        );
        assert_eq!(
            parse(OPENCV_XML).unwrap(),
            (anchor_camera(), CameraFileFormat::OpenCvXml)
        );
    }

    #[test]
    fn written_files_read_back_exactly() {
        let mut cam = anchor_camera();
        cam.intrinsics.skew = 0.125;
        cam.distortion.k3 = 1e-300;
        assert_eq!(parse(&camera_to_opencv_yaml(&cam)).unwrap().0, cam);
        assert_eq!(parse(&camera_to_opencv_xml(&cam)).unwrap().0, cam);
        let dir = std::env::temp_dir().join(format!("ccv-storage-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["c.json", "c.yml", "c.yaml", "c.xml", "c.bin"] {
            let path = dir.join(name);
            let format = save_camera(&path, &cam).unwrap();
            assert_eq!(format, CameraFileFormat::from_path(&path));
            assert_eq!(load_camera(&path).unwrap(), cam, "{name}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn yaml_with_other_entries_and_a_column_vector_reads() {
        let text = OPENCV_YAML.replace(
            "image_width: 640",
            "calibration_time: \"Mon Dec  7 # not a comment\"\nnr_of_frames: 13 # frames\n\
             image_width: 640\nflags: 0\nextrinsic_parameters: !!opencv-matrix\n   rows: 1\n   \
             cols: 2\n   dt: d\n   data: [ 1., 2. ]",
        );
        let text = text.replace("rows: 1\n   cols: 5", "rows: 5\n   cols: 1");
        assert_eq!(parse(&text).unwrap().0, anchor_camera());
    }

    #[test]
    fn files_of_other_formats_are_clear_errors() {
        let m =
            message(r#"{"format":"classic-cv-model","version":1,"kind":"linear-svm","model":{}}"#);
        assert!(m.contains("linear-svm") && m.contains("camera"), "{m}");
        let m = message(r#"{"camera": [1, 2, 3]}"#);
        assert!(m.contains("expected a camera file"), "{m}");
        let m = message("<opencv_storage><foo>1</foo></opencv_storage>");
        assert!(m.contains("no `camera_matrix`"), "{m}");
        let m = message("<cascade><x/></cascade>");
        assert!(m.contains("not <opencv_storage>"), "{m}");
        let m = message("hello");
        assert!(m.contains("expected a camera file"), "{m}");
        let m = message(&OPENCV_YAML.replace("%YAML:1.0", "%YAML:2.0"));
        assert!(m.contains("%YAML:1.0"), "{m}");
        let m = message(&OPENCV_YAML.replace("image_height: 480\n", ""));
        assert!(m.contains("image_height"), "{m}");
        let m = message(&OPENCV_YAML.replace("   rows: 3\n   cols: 3", "   rows: 2\n   cols: 3"));
        assert!(m.contains("2x3"), "{m}");
        let m = message(&OPENCV_XML.replace("0.25231620028589336", "0.25 0 0 0.1"));
        assert!(m.contains("more than 1x5"), "{m}");
        let m = message(&OPENCV_YAML.replace("0., 0., 1. ]", "0., 0., nan ]"));
        assert!(
            m.contains("non-finite") || m.contains("not a number"),
            "{m}"
        );
        let m = message(&OPENCV_YAML.replace("0., 0., 1. ]", "0., 0., 2. ]"));
        assert!(m.contains("camera_matrix"), "{m}");
        let rational = OPENCV_YAML.replace("cols: 5", "cols: 8").replace(
            "0.25231620028589336 ]",
            "0.25231620028589336, 0.1, 0., 0. ]",
        );
        let m = message(&rational);
        assert!(m.contains("rational"), "{m}");
    }

    #[test]
    fn deep_or_huge_inputs_are_refused_before_parsing() {
        let deep = format!(
            "<opencv_storage>{}{}</opencv_storage>",
            "<a>".repeat(crate::limits::MAX_XML_DEPTH),
            "</a>".repeat(crate::limits::MAX_XML_DEPTH)
        );
        let m = message(&deep);
        assert!(m.contains("levels deep"), "{m}");
        // Comments, CDATA and self-closing tags do not count as depth.
        let shallow = OPENCV_XML.replace(
            "<opencv_storage>",
            "<opencv_storage><!-- <a><a><a> --><empty/><![CDATA[<b><b>]]>",
        );
        assert_eq!(parse(&shallow).unwrap().0, anchor_camera());
        let huge = vec![b' '; MAX_CAMERA_FILE_BYTES + 1];
        let m = parse_camera(Path::new("cam"), &huge)
            .unwrap_err()
            .to_string();
        assert!(m.contains("limit"), "{m}");
        let m =
            message(&OPENCV_YAML.replace("rows: 3\n   cols: 3", "rows: 100000\n   cols: 100000"));
        assert!(
            m.contains("bad matrix dimension") || m.contains("over"),
            "{m}"
        );
    }
}
