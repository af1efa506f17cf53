//! Image-classification pipelines chosen at run time: a serialisable config and its fitted
//! model.
//!
//! # Overview
//! A [`PipelineConfig`] names a feature stage, an optional standardisation and a
//! classifier; fitting it on images gives a [`Pipeline`], which predicts a label per image
//! and is saved as one model file. The choice of stages is made by `enum`s (serde
//! serialises them; trait objects would not): [`FeaturesConfig`] / [`Features`] and
//! [`ClassifierConfig`] / [`Classifier`]. Adding a stage is one variant in each enum of a
//! pair and one line in each `match` below.
//!
//! # Config schema (JSON)
//! ```json
//! {
//!   "features": { "pixels": {} },
//!   "standardize": { "min_std": 1e-8 },
//!   "classifier": { "knn": { "k": 5, "metric": "l2" } }
//! }
//! ```
//! - `features`: exactly one of `{"pixels": {}}` ([`Pixels`]: the image flattened),
//!   `{"hog": {...}}` ([`Hog`]: histograms of oriented gradients; fields `orientations`,
//!   `cell`, `block`, `block_norm`, `transform_sqrt`, each optional) or
//!   `{"encoder": EncoderParams}` ([`crate::encode::encoder`]: dense SIFT, codebook, BoVW / VLAD /
//!   Fisher per spatial-pyramid cell, power and L2 normalisation, optional kernel map).
//! - `standardize` (optional): [`StandardizeParams`]; omit it for none.
//! - `classifier`: exactly one of `{"knn": KnnParams}`, `{"linear_svm": LinearSvmParams}`,
//!   `{"softmax": SoftmaxParams}` or `{"random_forest": RandomForestParams}`; every field of the params is optional (its default),
//!   unknown fields and unknown stage names are errors.
//!
//! # Usage
//! ```
//! use classic_cv::classify::config::PipelineConfig;
//! use classic_cv::pipeline::{Fit, Transform};
//! use classic_cv::Image;
//! let config = PipelineConfig::from_json(
//!     r#"{"features": {"pixels": {}}, "classifier": {"knn": {"k": 1}}}"#,
//!     "inline",
//! ).unwrap();
//! let images = vec![Image::from_fn(2, 2, |_, _| 0.0), Image::from_fn(2, 2, |_, _| 1.0)];
//! let model = config.fit(&images, &[0, 1]).unwrap();
//! assert_eq!(model.transform(&Image::from_fn(2, 2, |_, _| 0.9)).unwrap(), 1);
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::encode::encoder::{Encoder, EncoderParams, EncodingCache};
use crate::error::{Error, Result};
use crate::features::hog::Hog;
use crate::features::pixels::Pixels;
use crate::image::Image;
use crate::learn::forest::{RandomForest, RandomForestParams};
use crate::learn::knn::{Knn, KnnParams};
use crate::learn::preprocess::{Standardize, StandardizeParams};
use crate::learn::softmax::{Softmax, SoftmaxParams};
use crate::learn::svm::{LinearSvm, LinearSvmParams};
use crate::pipeline::{Fit, Label, Transform, check_fit_inputs};

/// The feature stage of a pipeline config (image -> feature vector).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeaturesConfig {
    /// Raw pixels, flattened.
    Pixels(Pixels),
    /// Histograms of oriented gradients.
    Hog(Hog),
    /// Dense SIFT -> codebook -> BoVW / VLAD / Fisher per pyramid cell.
    Encoder(Box<EncoderParams>),
}

/// A fitted feature stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Features {
    /// Raw pixels, flattened.
    Pixels(Pixels),
    /// Histograms of oriented gradients.
    Hog(Hog),
    /// Dense SIFT -> codebook -> BoVW / VLAD / Fisher per pyramid cell.
    Encoder(Box<Encoder>),
}

/// The classifier of a pipeline config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassifierConfig {
    /// k-nearest neighbours.
    Knn(KnnParams),
    /// One-vs-rest linear SVM.
    LinearSvm(LinearSvmParams),
    /// Softmax regression.
    Softmax(SoftmaxParams),
    /// Random forest of CART trees.
    RandomForest(RandomForestParams),
}

/// A fitted classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classifier {
    /// k-nearest neighbours.
    Knn(Knn),
    /// One-vs-rest linear SVM.
    LinearSvm(LinearSvm),
    /// Softmax regression.
    Softmax(Softmax),
    /// Random forest of CART trees.
    RandomForest(RandomForest),
}

/// A whole image classifier as data: features, optional standardisation, classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Image -> feature vector.
    pub features: FeaturesConfig,
    /// Per-feature standardisation between features and classifier (none when absent).
    #[serde(default)]
    pub standardize: Option<StandardizeParams>,
    /// Feature vector -> label.
    pub classifier: ClassifierConfig,
}

/// A fitted image classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    /// The config it was fitted from.
    pub config: PipelineConfig,
    /// Fitted feature stage.
    pub features: Features,
    /// Fitted standardisation, if configured.
    pub standardize: Option<Standardize>,
    /// Fitted classifier.
    pub classifier: Classifier,
    /// Names of the classes, indexed by label (set by whoever knows them, e.g. the CLI
    /// from the dataset; empty when unknown).
    #[serde(default)]
    pub class_names: Vec<String>,
}

impl Fit for FeaturesConfig {
    type Input = Image;
    type Fitted = Features;

    fn fit(&self, x: &[Image], y: &[Label]) -> Result<Features> {
        self.fit_with(x, y, None)
    }
}

impl FeaturesConfig {
    /// [`Fit::fit`], an encoder stage through `cache` when one is given.
    fn fit_with(
        &self,
        x: &[Image],
        y: &[Label],
        cache: Option<&EncodingCache>,
    ) -> Result<Features> {
        Ok(match (self, cache) {
            (FeaturesConfig::Pixels(p), _) => Features::Pixels(p.fit(x, y)?),
            (FeaturesConfig::Hog(p), _) => Features::Hog(p.fit(x, y)?),
            (FeaturesConfig::Encoder(p), None) => Features::Encoder(Box::new(p.fit(x, y)?)),
            (FeaturesConfig::Encoder(p), Some(c)) => {
                Features::Encoder(Box::new(p.fit_cached(x, y, c)?))
            }
        })
    }
}

impl Transform for Features {
    type Input = Image;
    type Output = Vec<f32>;

    fn transform(&self, x: &Image) -> Result<Vec<f32>> {
        match self {
            Features::Pixels(f) => f.transform(x),
            Features::Hog(f) => f.transform(x),
            Features::Encoder(f) => f.transform(x),
        }
    }

    fn transform_batch(&self, x: &[Image]) -> Result<Vec<Vec<f32>>> {
        self.transform_batch_with(x, None)
    }
}

impl Features {
    /// [`Transform::transform_batch`], an encoder stage through `cache` when one is given.
    fn transform_batch_with(
        &self,
        x: &[Image],
        cache: Option<&EncodingCache>,
    ) -> Result<Vec<Vec<f32>>> {
        match (self, cache) {
            (Features::Pixels(f), _) => f.transform_batch(x),
            (Features::Hog(f), _) => f.transform_batch(x),
            (Features::Encoder(f), None) => f.transform_batch(x),
            (Features::Encoder(f), Some(c)) => f.transform_batch_cached(x, c),
        }
    }
}

impl Fit for ClassifierConfig {
    type Input = Vec<f32>;
    type Fitted = Classifier;

    fn fit(&self, x: &[Vec<f32>], y: &[Label]) -> Result<Classifier> {
        Ok(match self {
            ClassifierConfig::Knn(p) => Classifier::Knn(p.fit(x, y)?),
            ClassifierConfig::LinearSvm(p) => Classifier::LinearSvm(p.fit(x, y)?),
            ClassifierConfig::Softmax(p) => Classifier::Softmax(p.fit(x, y)?),
            ClassifierConfig::RandomForest(p) => Classifier::RandomForest(p.fit(x, y)?),
        })
    }
}

impl Transform for Classifier {
    type Input = Vec<f32>;
    type Output = Label;

    fn transform(&self, x: &Vec<f32>) -> Result<Label> {
        match self {
            Classifier::Knn(m) => m.transform(x),
            Classifier::LinearSvm(m) => m.transform(x),
            Classifier::Softmax(m) => m.transform(x),
            Classifier::RandomForest(m) => m.transform(x),
        }
    }

    fn transform_batch(&self, x: &[Vec<f32>]) -> Result<Vec<Label>> {
        match self {
            Classifier::Knn(m) => m.transform_batch(x),
            Classifier::LinearSvm(m) => m.transform_batch(x),
            Classifier::Softmax(m) => m.transform_batch(x),
            Classifier::RandomForest(m) => m.transform_batch(x),
        }
    }
}

impl ClassifierConfig {
    /// Checks the classifier's params.
    pub fn validate(&self) -> Result<()> {
        match self {
            ClassifierConfig::Knn(p) => p.validate(),
            ClassifierConfig::LinearSvm(p) => p.validate(),
            ClassifierConfig::Softmax(p) => p.validate(),
            ClassifierConfig::RandomForest(p) => p.validate(),
        }
    }
}

impl FeaturesConfig {
    /// Checks the feature stage's params.
    pub fn validate(&self) -> Result<()> {
        match self {
            FeaturesConfig::Pixels(p) => p.validate(),
            FeaturesConfig::Hog(p) => p.validate(),
            FeaturesConfig::Encoder(p) => p.validate(),
        }
    }
}

impl PipelineConfig {
    /// The same config with every randomised stage seeded by `seed`: the encoder's codebook
    /// sample, the linear SVM's SGD order, softmax regression's batches and the forest's
    /// bootstrap (kNN, pixels, HOG and standardisation are deterministic). What the CLI's
    /// `--seed` does when it is given.
    pub fn with_seed(mut self, seed: u64) -> Self {
        if let FeaturesConfig::Encoder(e) = &mut self.features {
            e.seed = seed;
        }
        match &mut self.classifier {
            ClassifierConfig::Knn(_) => {}
            ClassifierConfig::LinearSvm(p) => p.seed = seed,
            ClassifierConfig::Softmax(p) => p.seed = seed,
            ClassifierConfig::RandomForest(p) => p.seed = seed,
        }
        self
    }

    /// Parses a config from JSON text; `origin` (a path, or "inline") names it in errors.
    /// Unknown stage names and unknown fields are errors that name them.
    pub fn from_json(text: &str, origin: impl AsRef<Path>) -> Result<Self> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::format(origin.as_ref(), format!("not valid JSON: {e}")))?;
        Self::from_value(value, origin)
    }

    /// Builds a config from a parsed JSON value (see [`PipelineConfig::from_json`]).
    pub fn from_value(value: Value, origin: impl AsRef<Path>) -> Result<Self> {
        let config: PipelineConfig = serde_json::from_value(value).map_err(|e| {
            let msg = e.to_string();
            let what = if msg.contains("unknown variant") {
                "unknown stage in pipeline config"
            } else if msg.contains("unknown field") {
                "unknown field in pipeline config"
            } else {
                "invalid pipeline config"
            };
            Error::format(origin.as_ref(), format!("{what}: {msg}"))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every stage's params.
    pub fn validate(&self) -> Result<()> {
        self.features.validate()?;
        if let Some(s) = &self.standardize {
            s.validate()?;
        }
        self.classifier.validate()
    }
}

impl Fit for PipelineConfig {
    type Input = Image;
    type Fitted = Pipeline;

    fn fit(&self, images: &[Image], labels: &[Label]) -> Result<Pipeline> {
        self.fit_with(images, labels, None)
    }
}

impl PipelineConfig {
    /// [`Fit::fit`] with the feature stage fitted and applied through `cache` when one is
    /// given (model selection shares encoders and encodings between candidates this way).
    /// The fitted pipeline is the same either way.
    pub fn fit_with(
        &self,
        images: &[Image],
        labels: &[Label],
        cache: Option<&EncodingCache>,
    ) -> Result<Pipeline> {
        self.validate()?;
        check_fit_inputs(images, labels)?;
        let features = self.features.fit_with(images, labels, cache)?;
        let mut x = features.transform_batch_with(images, cache)?;
        let standardize = match &self.standardize {
            Some(p) => {
                let s = p.fit(&x, labels)?;
                x = s.transform_batch(&x)?;
                Some(s)
            }
            None => None,
        };
        let classifier = self.classifier.fit(&x, labels)?;
        Ok(Pipeline {
            config: self.clone(),
            features,
            standardize,
            classifier,
            class_names: Vec::new(),
        })
    }
}

impl Transform for Pipeline {
    type Input = Image;
    type Output = Label;

    fn transform(&self, image: &Image) -> Result<Label> {
        Ok(self.transform_batch(std::slice::from_ref(image))?[0])
    }

    fn transform_batch(&self, images: &[Image]) -> Result<Vec<Label>> {
        self.transform_batch_with(images, None)
    }
}

impl Pipeline {
    /// [`Transform::transform_batch`] with the feature stage applied through `cache` when one
    /// is given; the labels are the same either way.
    pub fn transform_batch_with(
        &self,
        images: &[Image],
        cache: Option<&EncodingCache>,
    ) -> Result<Vec<Label>> {
        let mut x = self.features.transform_batch_with(images, cache)?;
        if let Some(s) = &self.standardize {
            x = s.transform_batch(&x)?;
        }
        self.classifier.transform_batch(&x)
    }
}

impl crate::persist::Model for Pipeline {
    fn kind() -> String {
        "pipeline".into()
    }

    /// Every fitted stage valid, and exactly one name per class when names are stored (a
    /// pipeline fitted by the library stores none; `train` stores the dataset's).
    fn validate_loaded(&self) -> Result<()> {
        self.config.validate()?;
        match &self.features {
            Features::Pixels(p) => p.validate()?,
            Features::Hog(h) => h.validate()?,
            Features::Encoder(e) => e.validate_loaded()?,
        }
        if let Some(s) = &self.standardize {
            s.validate_loaded()?;
        }
        let n_classes = match &self.classifier {
            Classifier::Knn(m) => m.validate_loaded().map(|_| m.n_classes)?,
            Classifier::LinearSvm(m) => m.validate_loaded().map(|_| m.n_classes)?,
            Classifier::Softmax(m) => m.validate_loaded().map(|_| m.weights.nrows())?,
            Classifier::RandomForest(m) => m.validate_loaded().map(|_| m.n_classes)?,
        };
        if !self.class_names.is_empty() && self.class_names.len() != n_classes {
            return Err(Error::DimensionMismatch {
                what: "class names of the pipeline (one per class)",
                expected: n_classes,
                found: self.class_names.len(),
            });
        }
        Ok(())
    }
}

/// A grid of pipeline configs: a base config and, for some of its fields, the values to
/// try. JSON: `{"base": CONFIG, "grid": {"classifier.knn.k": [1, 3], "classifier.knn.metric":
/// ["l1", "l2"]}}`. Keys are dot-separated paths into the config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridConfig {
    /// The config every candidate starts from.
    pub base: Value,
    /// Path -> values to try.
    pub grid: serde_json::Map<String, Value>,
}

/// Most candidates a grid may expand to.
pub const MAX_GRID_CANDIDATES: usize = 10_000;

impl GridConfig {
    /// Parses a grid from JSON text; `origin` names it in errors.
    pub fn from_json(text: &str, origin: impl AsRef<Path>) -> Result<Self> {
        serde_json::from_str(text)
            .map_err(|e| Error::format(origin.as_ref(), format!("invalid grid file: {e}")))
    }

    /// The candidates: the cartesian product of the value lists, keys in sorted order, the
    /// last key varying fastest (scikit-learn's `ParameterGrid` order). Each comes with a
    /// short name such as `k=3 metric=l1`.
    pub fn candidates(&self, origin: impl AsRef<Path>) -> Result<Vec<(String, PipelineConfig)>> {
        let origin = origin.as_ref();
        let mut keys: Vec<&String> = self.grid.keys().collect();
        keys.sort();
        let mut lists = Vec::new();
        for k in &keys {
            match &self.grid[k.as_str()] {
                Value::Array(v) if !v.is_empty() => lists.push(v),
                _ => {
                    return Err(Error::format(
                        origin,
                        format!("grid entry `{k}` must be a non-empty list of values"),
                    ));
                }
            }
        }
        let total = lists
            .iter()
            .try_fold(1usize, |a, l| a.checked_mul(l.len()))
            .filter(|&t| t <= MAX_GRID_CANDIDATES)
            .ok_or_else(|| {
                Error::format(
                    origin,
                    format!("the grid has more than {MAX_GRID_CANDIDATES} candidates"),
                )
            })?;
        let mut out = Vec::with_capacity(total);
        for mut idx in 0..total {
            let mut picks = vec![0; keys.len()];
            for i in (0..keys.len()).rev() {
                picks[i] = idx % lists[i].len();
                idx /= lists[i].len();
            }
            let mut value = self.base.clone();
            let mut name = Vec::new();
            for (i, key) in keys.iter().enumerate() {
                let v = &lists[i][picks[i]];
                set_path(&mut value, key, v.clone())
                    .map_err(|reason| Error::format(origin, reason))?;
                let short = key.rsplit('.').next().unwrap_or(key);
                let shown = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                name.push(format!("{short}={shown}"));
            }
            out.push((name.join(" "), PipelineConfig::from_value(value, origin)?));
        }
        Ok(out)
    }
}

/// Most dot-separated keys in a grid path. A pipeline config nests a few levels (e.g.
/// `features.encoder.sift.step`); a path of thousands of keys would build a JSON value so
/// deep that dropping it exhausts the stack.
pub const MAX_GRID_PATH_KEYS: usize = 16;

/// Sets `path` (dot-separated keys) in a JSON object, creating missing objects.
fn set_path(root: &mut Value, path: &str, v: Value) -> std::result::Result<(), String> {
    let mut cur = root;
    let parts: Vec<&str> = path.split('.').collect();
    if parts.len() > MAX_GRID_PATH_KEYS {
        return Err(format!(
            "grid path `{}...` has {} keys, more than {MAX_GRID_PATH_KEYS}",
            path.chars().take(40).collect::<String>(),
            parts.len()
        ));
    }
    for (i, part) in parts.iter().enumerate() {
        let Value::Object(map) = cur else {
            return Err(format!(
                "grid path `{path}`: `{}` is not an object",
                parts[..i].join(".")
            ));
        };
        if i + 1 == parts.len() {
            map.insert(part.to_string(), v);
            return Ok(());
        }
        cur = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    Err(format!("grid path `{path}` is empty"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_path_of_thousands_of_keys_is_an_error_not_a_stack_overflow() {
        // Found by the `config` fuzz target: a key of 40,000 dots nested the base config
        // 40,000 objects deep, and dropping it overflowed the stack.
        for key in [".".repeat(40_000), "a.".repeat(17) + "k"] {
            let text = serde_json::json!({"base": {}, "grid": {key.clone(): [1]}}).to_string();
            let grid = GridConfig::from_json(&text, "g.json").unwrap();
            let err = grid.candidates("g.json").unwrap_err().to_string();
            assert!(err.contains("more than 16"), "{err}");
        }
        let ok = r#"{"base": {"features": {"pixels": {}}, "classifier": {"knn": {}}},
                     "grid": {"classifier.knn.k": [1, 3]}}"#;
        assert_eq!(
            GridConfig::from_json(ok, "g")
                .unwrap()
                .candidates("g")
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn unknown_stage_names_are_clear_errors() {
        for (text, needle) in [
            (
                r#"{"features": {"pixels": {}}, "classifier": {"forestt": {}}}"#,
                "unknown stage in pipeline config: unknown variant `forestt`",
            ),
            (
                r#"{"features": {"hogg": {}}, "classifier": {"knn": {}}}"#,
                "unknown variant `hogg`",
            ),
            (
                r#"{"features": {"pixels": {}}, "classifier": {"knn": {"kk": 3}}}"#,
                "unknown field `kk`",
            ),
        ] {
            let err = PipelineConfig::from_json(text, "cfg.json").unwrap_err();
            assert!(matches!(err, Error::Format { .. }));
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn config_round_trips_and_validates() {
        let text = r#"{"features": {"pixels": {}}, "standardize": {}, "classifier": {"linear_svm": {"c": 0.01}}}"#;
        let c = PipelineConfig::from_json(text, "x").unwrap();
        assert_eq!(c.standardize, Some(StandardizeParams::default()));
        let again = serde_json::to_string(&c).unwrap();
        assert_eq!(PipelineConfig::from_json(&again, "x").unwrap(), c);
        let bad = r#"{"features": {"pixels": {}}, "classifier": {"knn": {"k": 0}}}"#;
        assert!(matches!(
            PipelineConfig::from_json(bad, "x"),
            Err(Error::InvalidParam { name: "k", .. })
        ));
    }

    #[test]
    fn grid_expands_in_parameter_grid_order() {
        let g = GridConfig::from_json(
            r#"{"base": {"features": {"pixels": {}}, "classifier": {"knn": {}}},
                "grid": {"classifier.knn.metric": ["l1", "l2"], "classifier.knn.k": [1, 3]}}"#,
            "g",
        )
        .unwrap();
        let c = g.candidates("g").unwrap();
        let names: Vec<&str> = c.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "k=1 metric=l1",
                "k=1 metric=l2",
                "k=3 metric=l1",
                "k=3 metric=l2"
            ]
        );
        let ClassifierConfig::Knn(p) = &c[2].1.classifier else {
            panic!("knn expected")
        };
        assert_eq!((p.k, p.metric), (3, crate::learn::knn::Metric::L1));
    }
}
