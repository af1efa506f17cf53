//! Cascades by name: `--cascade frontalface_default` instead of a path.
//!
//! A `--cascade` value is a file when it names one (it ends in `.xml`, has a folder in it,
//! or exists); otherwise it is a name, looked up in this order:
//!
//! - [`BUILTIN`]: classic-cv's own face cascade (`data/models/face-cascade.xml`), built into
//!   the binary so that an installed `classic-cv` has it without the repository;
//! - OpenCV's cascades that `fetch-data` brought into the data directory:
//!   `opencv/haarcascades/haarcascade_<name>.xml` and `opencv/lbpcascades/lbpcascade_<name>.xml`
//!   (the full file stem, `haarcascade_<name>`, works too).
//!
//! An unknown name is an error that lists the names available.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use classic_cv::detect::cascade::Cascade;

/// The cascade `detect`, `eval-detector` and `serve` use without `--cascade`.
pub const DEFAULT_CASCADE: &str = "frontalface_default";

/// The name of classic-cv's own face cascade, built into the binary.
pub const BUILTIN: &str = "classic-cv-face";

/// `data/models/face-cascade.xml`, as committed.
const BUILTIN_XML: &str = include_str!("../../../../data/models/face-cascade.xml");

/// The `--help` text of `--cascade`.
pub const CASCADE_HELP: &str = "Cascade: a name (classic-cv-face, built in; or an OpenCV \
    cascade fetched by `fetch-data`, e.g. frontalface_default, frontalface_alt2, \
    profileface, eye) or an OpenCV cascade XML file";

/// Where a cascade comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An XML file.
    File(PathBuf),
    /// classic-cv's own face cascade, from the binary.
    Builtin,
}

/// The folders of the data directory that hold OpenCV's cascades, with their file prefixes.
fn opencv_folders() -> [(PathBuf, &'static str); 2] {
    let data = classic_cv::datasets::fetch::default_cache_dir().join("opencv");
    [
        (data.join("haarcascades"), "haarcascade_"),
        (data.join("lbpcascades"), "lbpcascade_"),
    ]
}

/// Whether a `--cascade` value names a file rather than a cascade.
fn is_file_spec(spec: &Path) -> bool {
    spec.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
        || spec.components().count() > 1
        || spec.exists()
}

/// Resolves a `--cascade` value (see the module docs).
pub fn resolve(spec: &Path) -> Result<Source> {
    if spec == Path::new(BUILTIN) {
        return Ok(Source::Builtin);
    }
    if is_file_spec(spec) {
        return Ok(Source::File(spec.to_path_buf()));
    }
    let name = spec.to_string_lossy();
    for (dir, prefix) in opencv_folders() {
        for stem in [format!("{prefix}{name}"), name.to_string()] {
            let path = dir.join(format!("{stem}.xml"));
            if path.is_file() {
                return Ok(Source::File(path));
            }
        }
    }
    let names = available().into_iter().map(|(n, _)| n).collect::<Vec<_>>();
    let hint = if names.len() == 1 {
        format!(
            " (OpenCV's cascades are not in {}: run `classic-cv fetch-data`)",
            classic_cv::datasets::fetch::default_cache_dir().display()
        )
    } else {
        String::new()
    };
    Err(crate::output::usage(format!(
        "--cascade {name}: no such cascade file or name; the names are: {}{hint}",
        names.join(", ")
    )))
}

/// Every cascade name available, sorted, with where it comes from: [`BUILTIN`] and the
/// OpenCV cascades present in the data directory.
pub fn available() -> Vec<(String, Source)> {
    let mut v = vec![(BUILTIN.to_string(), Source::Builtin)];
    for (dir, prefix) in opencv_folders() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<(String, Source)> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter_map(|p| {
                let stem = p.file_stem()?.to_str()?.strip_prefix(prefix)?.to_string();
                let xml = p.extension().is_some_and(|e| e == "xml");
                xml.then_some((stem, Source::File(p)))
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        for item in found {
            if !v.iter().any(|(n, _)| *n == item.0) {
                v.push(item);
            }
        }
    }
    v
}

/// Loads the cascade a `--cascade` value names.
pub fn load(spec: &Path) -> Result<Cascade> {
    match resolve(spec)? {
        Source::Builtin => Cascade::from_xml(BUILTIN_XML, format!("{BUILTIN} (built in)"))
            .with_context(|| format!("the built-in cascade {BUILTIN}")),
        Source::File(path) => Ok(Cascade::load(&path)?),
    }
}
