//! Boosted cascade models and the OpenCV cascade XML formats (reader and writer).
//!
//! # Overview
//! A [`Cascade`] is what OpenCV's `CascadeClassifier` holds: a window size, a list of
//! features (Haar or multi-block LBP) and a list of stages. Each stage sums the leaf values
//! of its small decision trees (usually stumps) over a window and rejects the window when
//! the sum falls below the stage threshold. [`Cascade::load`] reads the current OpenCV
//! format (`traincascade`, HAAR and LBP) and the old `haartraining` format, which it
//! converts to the same model, as OpenCV 4 does. [`Cascade::to_xml`] writes the current
//! format.
//!
//! # Usage
//! ```no_run
//! use classic_cv::detect::cascade::Cascade;
//! let c = Cascade::load("data/cache/opencv/haarcascades/haarcascade_frontalface_default.xml")?;
//! assert_eq!((c.window_width, c.window_height, c.stages.len()), (24, 24, 25));
//! # Ok::<(), classic_cv::Error>(())
//! ```
//!
//! # Algorithm and conventions
//! - Numbers are read as `f64` and converted to `f32`, like OpenCV's `FileStorage`.
//! - A tree is a list of nodes, root first. A child value `> 0` is the index of another
//!   node, a value `<= 0` is the leaf `-value`. A Haar node goes left when
//!   `feature < threshold`; an LBP node goes left when its code's bit is set in the
//!   node's 256-bit set (`subset[code >> 5] >> (code & 31) & 1`).
//! - `stageThreshold` is stored here as read (`f32`); the detector subtracts OpenCV's
//!   `1e-5f` when comparing.
//! - Old-format files: each node's `left_val`/`right_val` becomes a leaf, its feature is
//!   appended to the feature list, and `parent`/`next` are ignored (OpenCV 4 does the
//!   same; the Debian files are plain chains).
//! - [`Cascade::validate`] rejects everything the detector could trip on: feature indices
//!   out of range, rectangles outside the window, non-finite numbers, trees that loop.
//!
//! # Parallelism
//! None: a cascade is read in one pass over its XML.
//!
//! # References
//! P. Viola, M. Jones, "Rapid object detection using a boosted cascade of simple
//! features", CVPR 2001; OpenCV's `cascadedetect.cpp` file layout.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::detect::haar::{HaarFeature, WeightedRect};
use crate::detect::lbp::LbpFeature;
use crate::error::{Error, Result};

/// OpenCV's stage epsilon: a stage passes when its sum reaches `f32(threshold) - 1e-5f`
/// (the subtraction in `f32`, the comparison in `f64`).
pub const STAGE_EPS: f32 = 1e-5;

/// The number a stage's sum is compared with: `f32(threshold) - 1e-5f`, in `f32` as OpenCV.
/// Every stage test of the detector and of cascade training goes through this function or
/// [`stage_passes`].
#[inline(always)]
pub fn effective_threshold(threshold: f32) -> f32 {
    threshold - STAGE_EPS
}

/// OpenCV's stage-pass test: `sum >= f32(threshold) - 1e-5f`, the sum in `f64`.
#[inline(always)]
pub fn stage_passes(sum: f64, threshold: f32) -> bool {
    sum >= effective_threshold(threshold) as f64
}

/// The variance normalisation of a window from `nf = A·Q − S²` (A the area of the window
/// minus a 1-pixel border, S and Q its pixel and squared-pixel sums): the feature scale
/// `f32(1 / sqrt(nf))`, computed in `f64` and rounded once as OpenCV does.
#[inline(always)]
pub fn inverse_norm(nf: f64) -> f32 {
    (1.0 / nf.sqrt()) as f32
}

/// OpenCV's variance test: a window is scanned only when `nf > 0` and `A · inv < 0.1`,
/// i.e. its standard deviation is at least 10 gray levels (`inv` from [`inverse_norm`]).
/// Windows failing it are rejected before stage 0.
#[inline(always)]
pub fn variance_passes(nf: f64, area: f64, inv: f32) -> bool {
    nf > 0.0 && area * (inv as f64) < 0.1
}

/// The kind of features a cascade evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeatureType {
    /// Haar-like features on the variance-normalised window.
    Haar,
    /// Multi-block LBP codes (no normalisation).
    Lbp,
}

/// How a tree node splits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NodeSplit {
    /// Haar: go left when the normalised feature value is `< threshold`.
    Threshold(f32),
    /// LBP: go left when bit `code` of this 256-bit set is 1.
    Subset([u32; 8]),
}

/// One internal node of a tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Index into the cascade's feature list.
    pub feature: u32,
    /// The test.
    pub split: NodeSplit,
    /// Left child: `> 0` a node index, `<= 0` leaf `-left`.
    pub left: i32,
    /// Right child, same encoding.
    pub right: i32,
}

/// A weak classifier of a stage: a small decision tree (a stump when it has one node).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeakTree {
    /// Internal nodes, root first.
    pub nodes: Vec<Node>,
    /// Leaf values.
    pub leaves: Vec<f32>,
}

/// One boosted stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// Stage threshold as stored in the file (the detector compares with
    /// `threshold - 1e-5f`).
    pub threshold: f32,
    /// The weak classifiers.
    pub trees: Vec<WeakTree>,
}

/// A boosted cascade of weak classifiers over Haar or LBP features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cascade {
    /// Feature kind.
    pub feature_type: FeatureType,
    /// Detection window width in pixels.
    pub window_width: usize,
    /// Detection window height in pixels.
    pub window_height: usize,
    /// Stages in evaluation order.
    pub stages: Vec<Stage>,
    /// Haar features (empty for LBP cascades).
    pub haar_features: Vec<HaarFeature>,
    /// LBP features (empty for Haar cascades).
    pub lbp_features: Vec<LbpFeature>,
}

impl crate::persist::Model for Cascade {
    fn kind() -> String {
        "cascade".into()
    }

    /// Everything [`Cascade::validate`] checks: the window, feature indices and rectangles
    /// inside it, finite thresholds and leaves, trees whose children follow their parents.
    fn validate_loaded(&self) -> Result<()> {
        self.validate()
    }
}

impl Cascade {
    /// Reads an OpenCV cascade XML file (current or old format).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = crate::limits::read_input(path)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::format(path, "cascade file is not valid UTF-8"))?;
        Cascade::from_xml(&text, path)
    }

    /// Parses cascade XML held in memory; `path` is only used in error messages.
    pub fn from_xml(text: &str, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        crate::limits::check_xml_depth(text, &path)?;
        let doc = roxmltree::Document::parse(text)
            .map_err(|e| Error::format(&path, format!("malformed XML: {e}")))?;
        let p = Parser { path };
        let root = doc.root_element();
        let top = elements(root)
            .next()
            .ok_or_else(|| p.err("no cascade inside the root element"))?;
        let cascade = if child(top, "featureType").is_some() || child(top, "stageType").is_some() {
            p.new_format(top)?
        } else if child(top, "size").is_some() && child(top, "stages").is_some() {
            p.old_format(top)?
        } else {
            return Err(p.err(format!(
                "<{}> is neither a current-format cascade (no <featureType>) nor an old \
                 haartraining cascade (no <size>)",
                top.tag_name().name()
            )));
        };
        cascade
            .validate()
            .map_err(|e| Error::format(&p.path, e.to_string()))?;
        Ok(cascade)
    }

    /// Checks every invariant the detector relies on (see the module docs).
    pub fn validate(&self) -> Result<()> {
        if self.window_width == 0 || self.window_height == 0 {
            return Err(Error::param(
                "window",
                "the window size must be at least 1x1",
            ));
        }
        if self.window_width > 4096 || self.window_height > 4096 {
            return Err(Error::param(
                "window",
                "window sizes above 4096 are not supported",
            ));
        }
        if self.stages.is_empty() {
            return Err(Error::EmptyInput {
                what: "cascade stages",
            });
        }
        let nfeat = match self.feature_type {
            FeatureType::Haar => self.haar_features.len(),
            FeatureType::Lbp => self.lbp_features.len(),
        };
        for f in &self.haar_features {
            f.check(self.window_width, self.window_height)?;
        }
        for f in &self.lbp_features {
            f.check(self.window_width, self.window_height)?;
        }
        for (si, stage) in self.stages.iter().enumerate() {
            if !stage.threshold.is_finite() {
                return Err(Error::NonFinite {
                    what: "stage threshold",
                });
            }
            if stage.trees.is_empty() {
                return Err(Error::param(
                    "stages",
                    format!("stage {si} has no weak classifier"),
                ));
            }
            for tree in &stage.trees {
                check_tree(tree, nfeat, self.feature_type)?;
            }
        }
        Ok(())
    }

    /// Whether any feature is tilted (the detector then builds the rotated integral).
    pub fn has_tilted(&self) -> bool {
        self.haar_features.iter().any(|f| f.tilted)
    }

    /// Whether every weak classifier is a stump (one node, two leaves).
    pub fn is_stump_based(&self) -> bool {
        self.stages
            .iter()
            .flat_map(|s| &s.trees)
            .all(|t| t.nodes.len() == 1 && t.nodes[0].left == 0 && t.nodes[0].right == -1)
    }

    /// Writes the cascade in OpenCV's current XML format (readable by OpenCV 4 and by
    /// [`Cascade::from_xml`], which gives back an equal model).
    pub fn to_xml(&self) -> String {
        let mut s = String::new();
        let lbp = self.feature_type == FeatureType::Lbp;
        let max_weak = self
            .stages
            .iter()
            .map(|st| st.trees.len())
            .max()
            .unwrap_or(0);
        let max_depth = self
            .stages
            .iter()
            .flat_map(|st| &st.trees)
            .map(|t| t.nodes.len())
            .max();
        s.push_str("<?xml version=\"1.0\"?>\n<opencv_storage>\n");
        s.push_str("<cascade type_id=\"opencv-cascade-classifier\">\n");
        s.push_str("  <stageType>BOOST</stageType>\n");
        let _ = writeln!(
            s,
            "  <featureType>{}</featureType>",
            if lbp { "LBP" } else { "HAAR" }
        );
        let _ = writeln!(s, "  <height>{}</height>", self.window_height);
        let _ = writeln!(s, "  <width>{}</width>", self.window_width);
        let _ = writeln!(
            s,
            "  <stageParams>\n    <boostType>GAB</boostType>\n    <maxDepth>{}</maxDepth>\n    \
             <maxWeakCount>{max_weak}</maxWeakCount></stageParams>",
            max_depth.unwrap_or(1)
        );
        let _ = writeln!(
            s,
            "  <featureParams>\n    <maxCatCount>{}</maxCatCount>\n    <featSize>1</featSize>{}</featureParams>",
            if lbp { 256 } else { 0 },
            if self.has_tilted() {
                "\n    <mode>ALL</mode>"
            } else {
                ""
            }
        );
        let _ = writeln!(
            s,
            "  <stageNum>{}</stageNum>\n  <stages>",
            self.stages.len()
        );
        for (si, st) in self.stages.iter().enumerate() {
            let _ = writeln!(
                s,
                "    <!-- stage {si} -->\n    <_>\n      <maxWeakCount>{}</maxWeakCount>\n      \
                 <stageThreshold>{}</stageThreshold>\n      <weakClassifiers>",
                st.trees.len(),
                st.threshold as f64
            );
            for t in &st.trees {
                s.push_str("        <_>\n          <internalNodes>\n");
                for n in &t.nodes {
                    let _ = write!(s, "            {} {} {}", n.left, n.right, n.feature);
                    match &n.split {
                        NodeSplit::Threshold(v) => {
                            let _ = write!(s, " {}", *v as f64);
                        }
                        NodeSplit::Subset(m) => {
                            for w in m {
                                let _ = write!(s, " {}", *w as i32);
                            }
                        }
                    }
                    s.push('\n');
                }
                s.push_str("          </internalNodes>\n          <leafValues>\n           ");
                for v in &t.leaves {
                    let _ = write!(s, " {}", *v as f64);
                }
                s.push_str("</leafValues></_>\n");
            }
            s.push_str("      </weakClassifiers></_>\n");
        }
        s.push_str("  </stages>\n  <features>\n");
        if lbp {
            for f in &self.lbp_features {
                let _ = writeln!(
                    s,
                    "    <_>\n      <rect>\n        {} {} {} {}</rect></_>",
                    f.x, f.y, f.width, f.height
                );
            }
        } else {
            for f in &self.haar_features {
                s.push_str("    <_>\n      <rects>\n");
                for r in &f.rects {
                    let _ = writeln!(
                        s,
                        "        <_>\n          {} {} {} {} {}</_>",
                        r.x, r.y, r.width, r.height, r.weight as f64
                    );
                }
                let _ = writeln!(
                    s,
                    "      </rects>\n      <tilted>{}</tilted></_>",
                    f.tilted as u8
                );
            }
        }
        s.push_str("  </features>\n</cascade>\n</opencv_storage>\n");
        s
    }

    /// Writes [`Cascade::to_xml`] to a file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::persist::write_atomic(path.as_ref(), self.to_xml().as_bytes())
    }
}

/// Checks one tree: node and leaf references in range, children after their parent (so
/// evaluation terminates), split kind matching the features, finite numbers.
fn check_tree(tree: &WeakTree, nfeat: usize, ft: FeatureType) -> Result<()> {
    if tree.nodes.is_empty() {
        return Err(Error::param("trees", "a weak classifier has no node"));
    }
    if tree.leaves.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite { what: "leaf value" });
    }
    for (i, n) in tree.nodes.iter().enumerate() {
        if n.feature as usize >= nfeat {
            return Err(Error::param(
                "trees",
                format!(
                    "feature index {} out of range ({nfeat} features)",
                    n.feature
                ),
            ));
        }
        match (&n.split, ft) {
            (NodeSplit::Threshold(t), FeatureType::Haar) => {
                if !t.is_finite() {
                    return Err(Error::NonFinite {
                        what: "node threshold",
                    });
                }
            }
            (NodeSplit::Subset(_), FeatureType::Lbp) => {}
            _ => {
                return Err(Error::param(
                    "trees",
                    "node split kind does not match the feature type",
                ));
            }
        }
        for c in [n.left, n.right] {
            if c > 0 {
                if c as usize <= i || c as usize >= tree.nodes.len() {
                    return Err(Error::param(
                        "trees",
                        format!("node {i} has child {c}: children must come after their parent"),
                    ));
                }
            } else if c.unsigned_abs() as usize >= tree.leaves.len() {
                return Err(Error::param(
                    "trees",
                    format!(
                        "leaf {} out of range ({} leaves)",
                        -(c as i64),
                        tree.leaves.len()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Element children of a node (comments and whitespace skipped).
fn elements<'a, 'i>(n: roxmltree::Node<'a, 'i>) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    n.children().filter(|c| c.is_element())
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    elements(n).find(|c| c.tag_name().name() == name)
}

/// All text inside an element (numbers may be split by comments or wrapped lines).
fn text_of(n: roxmltree::Node) -> String {
    let mut s = String::new();
    for d in n.descendants().filter(|d| d.is_text()) {
        s.push(' ');
        s.push_str(d.text().unwrap_or(""));
    }
    s
}

struct Parser {
    path: PathBuf,
}

impl Parser {
    fn err(&self, reason: impl Into<String>) -> Error {
        Error::format(&self.path, reason)
    }

    fn req<'a, 'i>(
        &self,
        n: roxmltree::Node<'a, 'i>,
        name: &str,
    ) -> Result<roxmltree::Node<'a, 'i>> {
        child(n, name)
            .ok_or_else(|| self.err(format!("missing <{name}> in <{}>", n.tag_name().name())))
    }

    fn floats(&self, n: roxmltree::Node, what: &str) -> Result<Vec<f64>> {
        text_of(n)
            .split_whitespace()
            .map(|t| {
                t.parse::<f64>()
                    .map_err(|_| self.err(format!("<{what}>: `{t}` is not a number")))
            })
            .collect()
    }

    fn ints(&self, n: roxmltree::Node, what: &str) -> Result<Vec<i64>> {
        self.floats(n, what)?
            .into_iter()
            .map(|v| self.int(v, what))
            .collect()
    }

    fn int(&self, v: f64, what: &str) -> Result<i64> {
        if v.fract() == 0.0 && v.abs() < 2f64.powi(40) {
            Ok(v as i64)
        } else {
            Err(self.err(format!("<{what}>: {v} is not an integer")))
        }
    }

    /// The one number held by element `n` (named `name` in errors).
    fn one_float(&self, n: roxmltree::Node, name: &str) -> Result<f64> {
        match self.floats(n, name)?.as_slice() {
            [x] => Ok(*x),
            _ => Err(self.err(format!("<{name}> must hold one number"))),
        }
    }

    /// The stage threshold held by the child `name` of stage element `st`.
    fn stage_threshold(&self, st: roxmltree::Node, name: &str) -> Result<f32> {
        let thr = self.one_float(self.req(st, name)?, name)?;
        self.f32_of(thr, "stage threshold")
    }

    fn one_int(&self, n: roxmltree::Node, name: &str) -> Result<i64> {
        let v = self.ints(self.req(n, name)?, name)?;
        match v.as_slice() {
            [x] => Ok(*x),
            _ => Err(self.err(format!("<{name}> must hold one integer"))),
        }
    }

    fn f32_of(&self, v: f64, what: &'static str) -> Result<f32> {
        let x = v as f32;
        if x.is_finite() {
            Ok(x)
        } else {
            Err(self.err(format!("non-finite {what} ({v})")))
        }
    }

    fn coord(&self, v: i64, what: &str) -> Result<u32> {
        u32::try_from(v).map_err(|_| self.err(format!("<{what}>: negative or huge coordinate {v}")))
    }

    fn new_format(&self, top: roxmltree::Node) -> Result<Cascade> {
        if let Some(st) = child(top, "stageType") {
            let t = text_of(st);
            if t.trim() != "BOOST" {
                return Err(self.err(format!(
                    "unknown stage type `{}` (only BOOST exists)",
                    t.trim()
                )));
            }
        }
        let ftext = text_of(self.req(top, "featureType")?);
        let feature_type = match ftext.trim() {
            "HAAR" => FeatureType::Haar,
            "LBP" => FeatureType::Lbp,
            other => {
                return Err(self.err(format!(
                    "unknown feature type `{other}` (supported: HAAR, LBP)"
                )));
            }
        };
        let width = self.one_int(top, "width")?;
        let height = self.one_int(top, "height")?;
        let max_cat = match child(top, "featureParams").and_then(|f| child(f, "maxCatCount")) {
            Some(n) => match self.ints(n, "maxCatCount")?.as_slice() {
                [x] => *x,
                _ => return Err(self.err("<maxCatCount> must hold one integer")),
            },
            None => 0,
        };
        let categorical = match (feature_type, max_cat) {
            (FeatureType::Haar, 0) => false,
            (FeatureType::Lbp, 256) => true,
            (ft, m) => {
                return Err(self.err(format!(
                    "maxCatCount {m} is not supported for {ft:?} features"
                )));
            }
        };
        let node_step = if categorical { 11 } else { 4 };
        let mut stages = Vec::new();
        for st in elements(self.req(top, "stages")?) {
            let threshold = self.stage_threshold(st, "stageThreshold")?;
            let mut trees = Vec::new();
            for wc in elements(self.req(st, "weakClassifiers")?) {
                let raw = self.floats(self.req(wc, "internalNodes")?, "internalNodes")?;
                if raw.is_empty() || raw.len() % node_step != 0 {
                    return Err(self.err(format!(
                        "<internalNodes> holds {} values, not a multiple of {node_step}",
                        raw.len()
                    )));
                }
                let mut nodes = Vec::new();
                for chunk in raw.chunks(node_step) {
                    let left = self.int(chunk[0], "internalNodes")?;
                    let right = self.int(chunk[1], "internalNodes")?;
                    let feature = self.int(chunk[2], "internalNodes")?;
                    let split = if categorical {
                        let mut m = [0u32; 8];
                        for (k, v) in chunk[3..].iter().enumerate() {
                            let x = self.int(*v, "internalNodes")?;
                            if !(-(1i64 << 31)..(1i64 << 32)).contains(&x) {
                                return Err(self.err(format!("subset word {x} is not 32-bit")));
                            }
                            m[k] = x as u32;
                        }
                        NodeSplit::Subset(m)
                    } else {
                        NodeSplit::Threshold(self.f32_of(chunk[3], "node threshold")?)
                    };
                    let small = |v: i64| {
                        i32::try_from(v)
                            .map_err(|_| self.err(format!("node reference {v} out of range")))
                    };
                    nodes.push(Node {
                        feature: u32::try_from(feature).map_err(|_| {
                            self.err(format!("feature index {feature} out of range"))
                        })?,
                        split,
                        left: small(left)?,
                        right: small(right)?,
                    });
                }
                let leaves = self
                    .floats(self.req(wc, "leafValues")?, "leafValues")?
                    .into_iter()
                    .map(|v| self.f32_of(v, "leaf value"))
                    .collect::<Result<Vec<_>>>()?;
                trees.push(WeakTree { nodes, leaves });
            }
            stages.push(Stage { threshold, trees });
        }
        let mut haar_features = Vec::new();
        let mut lbp_features = Vec::new();
        for f in elements(self.req(top, "features")?) {
            match feature_type {
                FeatureType::Haar => haar_features.push(self.haar_feature(f)?),
                FeatureType::Lbp => {
                    let v = self.ints(self.req(f, "rect")?, "rect")?;
                    let [x, y, w, h] = v.as_slice() else {
                        return Err(self.err("<rect> of an LBP feature must hold 4 integers"));
                    };
                    lbp_features.push(LbpFeature {
                        x: self.coord(*x, "rect")?,
                        y: self.coord(*y, "rect")?,
                        width: self.coord(*w, "rect")?,
                        height: self.coord(*h, "rect")?,
                    });
                }
            }
        }
        Ok(Cascade {
            feature_type,
            window_width: self.window(width)?,
            window_height: self.window(height)?,
            stages,
            haar_features,
            lbp_features,
        })
    }

    fn window(&self, v: i64) -> Result<usize> {
        if (1..=4096).contains(&v) {
            Ok(v as usize)
        } else {
            Err(self.err(format!("window size {v} is outside 1..=4096")))
        }
    }

    /// `<rects><_>x y w h weight</_>...</rects>[<tilted>1</tilted>]` (both formats).
    fn haar_feature(&self, f: roxmltree::Node) -> Result<HaarFeature> {
        let mut rects = Vec::new();
        for r in elements(self.req(f, "rects")?) {
            let v = self.floats(r, "rects")?;
            let [x, y, w, h, wt] = v.as_slice() else {
                return Err(self.err("a Haar rectangle must hold 5 numbers: x y w h weight"));
            };
            rects.push(WeightedRect {
                x: self.coord(self.int(*x, "rects")?, "rects")?,
                y: self.coord(self.int(*y, "rects")?, "rects")?,
                width: self.coord(self.int(*w, "rects")?, "rects")?,
                height: self.coord(self.int(*h, "rects")?, "rects")?,
                weight: self.f32_of(*wt, "rectangle weight")?,
            });
        }
        let tilted = match child(f, "tilted") {
            Some(t) => match self.ints(t, "tilted")?.as_slice() {
                [v] => *v != 0,
                _ => return Err(self.err("<tilted> must hold one integer")),
            },
            None => false,
        };
        Ok(HaarFeature { rects, tilted })
    }

    fn old_format(&self, top: roxmltree::Node) -> Result<Cascade> {
        let size = self.ints(self.req(top, "size")?, "size")?;
        let [w, h] = size.as_slice() else {
            return Err(self.err("<size> must hold two integers: width height"));
        };
        let mut haar_features = Vec::new();
        let mut stages = Vec::new();
        for st in elements(self.req(top, "stages")?) {
            let threshold = self.stage_threshold(st, "stage_threshold")?;
            let mut trees = Vec::new();
            for tr in elements(self.req(st, "trees")?) {
                let mut nodes = Vec::new();
                let mut leaves = Vec::new();
                for nd in elements(tr) {
                    let feature = haar_features.len() as u32;
                    haar_features.push(self.haar_feature(self.req(nd, "feature")?)?);
                    let t = self.one_float(self.req(nd, "threshold")?, "threshold")?;
                    let split = NodeSplit::Threshold(self.f32_of(t, "node threshold")?);
                    let mut side = |val: &str, node: &str| -> Result<i32> {
                        if let Some(v) = child(nd, val) {
                            let v = self.one_float(v, val)?;
                            leaves.push(self.f32_of(v, "leaf value")?);
                            Ok(-(leaves.len() as i32 - 1))
                        } else if let Some(n) = child(nd, node) {
                            let v = self.ints(n, node)?;
                            match v.as_slice() {
                                [i] if (1..1 << 20).contains(i) => Ok(*i as i32),
                                _ => Err(self.err(format!("<{node}> must be a node index >= 1"))),
                            }
                        } else {
                            Err(self.err(format!("a tree node needs <{val}> or <{node}>")))
                        }
                    };
                    let left = side("left_val", "left_node")?;
                    let right = side("right_val", "right_node")?;
                    nodes.push(Node {
                        feature,
                        split,
                        left,
                        right,
                    });
                }
                trees.push(WeakTree { nodes, leaves });
            }
            stages.push(Stage { threshold, trees });
        }
        Ok(Cascade {
            feature_type: FeatureType::Haar,
            window_width: self.window(*w)?,
            window_height: self.window(*h)?,
            stages,
            haar_features,
            lbp_features: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = r#"<?xml version="1.0"?>
<opencv_storage>
<cascade type_id="opencv-cascade-classifier">
  <stageType>BOOST</stageType>
  <featureType>HAAR</featureType>
  <height>4</height>
  <width>4</width>
  <featureParams><maxCatCount>0</maxCatCount></featureParams>
  <stageNum>1</stageNum>
  <stages>
    <!-- stage 0 -->
    <_>
      <maxWeakCount>1</maxWeakCount>
      <stageThreshold>-0.5</stageThreshold>
      <weakClassifiers>
        <_><internalNodes>
            0 -1 0 1.5e-01</internalNodes>
          <leafValues>-1. 1.</leafValues></_></weakClassifiers></_>
  </stages>
  <features>
    <_><rects><_>0 0 4 4 -1.</_><_>0 0 2 4 2.</_></rects></_>
  </features>
</cascade>
</opencv_storage>"#;

    #[test]
    fn tiny_cascade_parses_and_round_trips() {
        let c = Cascade::from_xml(TINY, "tiny.xml").unwrap();
        assert_eq!((c.window_width, c.window_height), (4, 4));
        assert_eq!(c.stages[0].threshold, -0.5);
        assert_eq!(
            c.stages[0].trees[0].nodes[0].split,
            NodeSplit::Threshold(0.15)
        );
        assert_eq!(c.stages[0].trees[0].leaves, vec![-1.0, 1.0]);
        assert_eq!(c.haar_features[0].rects[1].weight, 2.0);
        assert!(c.is_stump_based());
        let again = Cascade::from_xml(&c.to_xml(), "again.xml").unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn broken_files_are_format_errors() {
        let cases = [
            TINY.replace("HAAR", "HOG"),
            TINY.replace("0 0 2 4 2.", "3 0 2 4 2."),
            TINY.replace("-0.5", "nan"),
            TINY.replace("1.5e-01", "NaN"),
            TINY.replace("0 -1 0 1.5e-01", "0 -1 7 1.5e-01"),
            TINY.replace("0 -1 0 1.5e-01", "0 -3 0 1.5e-01"),
            TINY.replace("0 -1 0 1.5e-01", "0 -1 0"),
            TINY.replace("<leafValues>-1. 1.</leafValues>", ""),
            TINY[..TINY.len() / 2].to_string(),
            TINY.replace("-1. 1.", "-1. x"),
            String::new(),
        ];
        for (i, text) in cases.iter().enumerate() {
            let r = Cascade::from_xml(text, "bad.xml");
            assert!(matches!(r, Err(Error::Format { .. })), "case {i}: {r:?}");
        }
        let msg = Cascade::from_xml(&cases[0], "bad.xml")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("unknown feature type `HOG`"), "{msg}");
        let msg = Cascade::from_xml(&cases[1], "bad.xml")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("outside the 4x4 window"), "{msg}");
    }
}
