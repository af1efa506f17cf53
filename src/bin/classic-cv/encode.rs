//! `kmeans` and `encode`: codebooks and BoVW / VLAD encodings from descriptor files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use classic_cv::encode::bovw::{Bovw, BovwAssignment, BovwNorm, BovwParams};
use classic_cv::encode::encoder::LocalFeatures;
use classic_cv::encode::kmeans::{KMeans, KMeansAlgorithm, KMeansInit, KMeansParams};
use classic_cv::encode::vlad::{Vlad, VladNormalization, vlad_encode};
use classic_cv::npy;
use classic_cv::pipeline::Transform;
use ndarray::Array2;

use crate::Globals;

/// k-means refinement algorithm.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AlgorithmArg {
    /// Exact Lloyd iterations (matrix-product distances).
    Lloyd,
    /// Exact, accelerated by distance bounds (Hamerly's algorithm).
    #[value(alias = "hamerly")]
    Elkan,
    /// Mini-batch k-means (approximate; `--iters` counts epochs).
    Minibatch,
}

/// Arguments of `kmeans`.
#[derive(Args, Debug)]
pub struct KMeansArgs {
    /// Descriptors: `.npy` (n x d) or raw little-endian `.f32` with `--dim`.
    pub descriptors: PathBuf,
    /// Number of centres.
    #[arg(long, default_value_t = 256)]
    pub k: usize,
    /// `kmeans++`, `random`, or a file of k x d initial centres (`.npy` or raw `.f32`).
    #[arg(long, default_value = "kmeans++")]
    pub init: String,
    /// Refinement algorithm.
    #[arg(long, value_enum, default_value_t = AlgorithmArg::Lloyd)]
    pub algorithm: AlgorithmArg,
    /// Maximum number of centre updates (epochs for mini-batch).
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
    /// Stop when the relative energy decrease falls below this (0: never).
    #[arg(long, default_value_t = 0.0)]
    pub tol: f32,
    /// Fit on a random subsample of this many descriptors.
    #[arg(long)]
    pub subsample: Option<usize>,
    /// Mini-batch size.
    #[arg(long, default_value_t = 1024)]
    pub batch_size: usize,
    /// Descriptor dimension of raw `.f32` inputs.
    #[arg(long)]
    pub dim: Option<usize>,
    /// Output centres (`.npy`, or raw `.f32`).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
}

/// Which encoding.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EncodingArg {
    /// Bag of visual words histogram.
    Bovw,
    /// VLAD residuals.
    Vlad,
}

/// Arguments of `encode`.
#[derive(Args, Debug)]
pub struct EncodeArgs {
    /// Encoding.
    #[arg(value_enum)]
    pub encoding: EncodingArg,
    /// One image's descriptors: `.npy` (n x d) or raw `.f32` with `--dim`.
    pub descriptors: PathBuf,
    /// Codebook centres (k x d): `.npy` or raw `.f32`.
    #[arg(long)]
    pub codebook: PathBuf,
    /// Precomputed nearest-centre indices (`.npy` or raw `.u32`); default: computed.
    #[arg(long)]
    pub assignments: Option<PathBuf>,
    /// Keypoint frames, x and y in the first two columns (`.npy`, raw `.f32`, raw `.f64`
    /// with `--frames-dim`); needed for a spatial pyramid.
    #[arg(long)]
    pub frames: Option<PathBuf>,
    /// Columns of raw frame files.
    #[arg(long, default_value_t = 2)]
    pub frames_dim: usize,
    /// Spatial pyramid grid sizes (BoVW), e.g. `1,2,4`.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub pyramid: Vec<u32>,
    /// Image size `WxH` for the pyramid (default: largest frame coordinate + 1).
    #[arg(long)]
    pub size: Option<String>,
    /// BoVW: `none`, `l1` or `sqrt` (square root + L2; default). VLAD: `none`
    /// (unnormalised) or a comma list of `components`, `sqrt`, `mass` (then global L2;
    /// `l2` alone = global L2 only, the default).
    #[arg(long)]
    pub norm: Option<String>,
    /// BoVW soft assignment: Gaussian sigma (kernel codebook).
    #[arg(long)]
    pub soft: Option<f32>,
    /// BoVW soft assignment: number of nearest codewords.
    #[arg(long, default_value_t = 5)]
    pub nearest: usize,
    /// Descriptor dimension of raw `.f32` inputs.
    #[arg(long)]
    pub dim: Option<usize>,
    /// Output encoding (`.npy` 1 x dim, or raw `.f32`).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
}

/// Reads an `n x d` matrix from `.npy`, or raw little-endian `.f32`/`.f64` with `dim`.
/// `flag` names the option that gives `dim`, for the error message.
fn read_matrix(path: &Path, dim: Option<usize>, flag: &str) -> Result<Array2<f32>> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext == "npy" {
        return Ok(npy::read(path)?.into_array2(path)?);
    }
    let width = match ext {
        "f32" => 4,
        "f64" => 8,
        _ => bail!("{}: expected a .npy, .f32 or .f64 file", path.display()),
    };
    let Some(dim) = dim.filter(|&d| d > 0) else {
        bail!(
            "{}: raw input needs {flag} (columns per row, at least 1)",
            path.display()
        );
    };
    let bytes = classic_cv::limits::read_input(path)?;
    if bytes.len() % (width * dim) != 0 {
        bail!(
            "{}: {} bytes is not a whole number of rows of {dim} values",
            path.display(),
            bytes.len()
        );
    }
    let v: Vec<f32> = if width == 4 {
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect()
    };
    Ok(Array2::from_shape_vec((v.len() / dim, dim), v)?)
}

/// Reads indices from `.npy` or raw little-endian `.u32`.
fn read_indices(path: &Path) -> Result<Vec<u32>> {
    if path.extension().and_then(|e| e.to_str()) == Some("npy") {
        return Ok(npy::read(path)?.into_u32(path)?);
    }
    let bytes = classic_cv::limits::read_input(path)?;
    if bytes.len() % 4 != 0 {
        bail!("{}: not a whole number of u32 values", path.display());
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Writes a matrix as `.npy`, or raw little-endian `.f32` for that extension.
fn write_matrix(path: &Path, a: &Array2<f32>) -> Result<()> {
    if path.extension().and_then(|e| e.to_str()) == Some("f32") {
        let bytes: Vec<u8> = a.iter().flat_map(|v| v.to_le_bytes()).collect();
        classic_cv::persist::write_atomic(path, &bytes)?;
    } else {
        npy::write_array2(path, a)?;
    }
    Ok(())
}

/// `classic-cv kmeans`.
pub fn kmeans(args: &KMeansArgs, g: &Globals) -> Result<()> {
    let mut inputs = vec![args.descriptors.as_path()];
    if !["kmeans++", "plusplus", "pp", "random"].contains(&args.init.as_str()) {
        inputs.push(Path::new(&args.init));
    }
    crate::output::check(&[(&args.output, crate::output::Kind::File)], &inputs)?;
    let x = read_matrix(&args.descriptors, args.dim, "--dim")?;
    let init = match args.init.as_str() {
        "kmeans++" | "plusplus" | "pp" => KMeansInit::PlusPlus,
        "random" => KMeansInit::Random,
        file => KMeansInit::Given(read_matrix(Path::new(file), Some(x.ncols()), "--dim")?),
    };
    let algorithm = match args.algorithm {
        AlgorithmArg::Lloyd => KMeansAlgorithm::Lloyd,
        AlgorithmArg::Elkan => KMeansAlgorithm::Hamerly,
        AlgorithmArg::Minibatch => KMeansAlgorithm::MiniBatch {
            batch_size: args.batch_size,
        },
    };
    let params = KMeansParams {
        k: args.k,
        init,
        algorithm,
        max_iter: args.iters,
        tol: args.tol,
        seed: g.seed,
        subsample: args.subsample,
    };
    crate::output::flags(params.validate())?;
    let start = Instant::now();
    let model = params.fit_array(x.view())?;
    let seconds = start.elapsed().as_secs_f64();
    write_matrix(&args.output, &model.centres)?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "energy": model.energy(),
                "energies": model.energies,
                "seconds": seconds,
                "n_iter": model.n_iter,
                "converged": model.converged,
                "n_distances": model.n_distances,
                "k": model.k(),
                "n": x.nrows(),
                "dim": x.ncols(),
            })
        );
    } else {
        println!(
            "energy {:.4} after {} iterations ({}converged) in {seconds:.3} s; centres -> {}",
            model.energy(),
            model.n_iter,
            if model.converged { "" } else { "not " },
            args.output.display()
        );
    }
    Ok(())
}

/// `classic-cv encode`.
pub fn encode(args: &EncodeArgs, g: &Globals) -> Result<()> {
    let mut inputs = vec![args.descriptors.as_path(), args.codebook.as_path()];
    inputs.extend(args.frames.as_deref());
    inputs.extend(args.assignments.as_deref());
    crate::output::check(&[(&args.output, crate::output::Kind::File)], &inputs)?;
    let x = read_matrix(&args.descriptors, args.dim, "--dim")?;
    let centres = read_matrix(&args.codebook, Some(x.ncols()), "--dim")?;
    let k = centres.nrows();
    let codebook = KMeans {
        params: KMeansParams {
            k,
            init: KMeansInit::Given(centres.clone()),
            max_iter: 0,
            ..Default::default()
        },
        centres,
        energies: Vec::new(),
        n_iter: 0,
        converged: false,
        n_distances: 0,
    };
    classic_cv::persist::Model::validate_loaded(&codebook)
        .with_context(|| args.codebook.display().to_string())?;
    let positions = match &args.frames {
        Some(p) => {
            let f = read_matrix(p, Some(args.frames_dim), "--frames-dim")?;
            if f.ncols() < 2 {
                bail!("{}: frames need x and y columns", p.display());
            }
            f.rows().into_iter().map(|r| [r[0], r[1]]).collect()
        }
        None => Vec::new(),
    };
    let (width, height) = match &args.size {
        Some(s) => {
            let (w, h) = crate::output::flags(classic_cv::image::parse_size(s))?;
            (u32::try_from(w)?, u32::try_from(h)?)
        }
        None => {
            let mx = positions
                .iter()
                .map(|p: &[f32; 2]| p[0])
                .fold(0f32, f32::max);
            let my = positions.iter().map(|p| p[1]).fold(0f32, f32::max);
            let side = |m: f32| (m.floor() as u32).saturating_add(1);
            (side(mx), side(my))
        }
    };
    let features = LocalFeatures {
        descriptors: x,
        positions,
        width,
        height,
    };
    let assignments = args.assignments.as_deref().map(read_indices).transpose()?;
    let start = Instant::now();
    let out = match args.encoding {
        EncodingArg::Vlad => {
            let mut norm = VladNormalization::default();
            for token in args.norm.as_deref().unwrap_or("l2").split(',') {
                match token.trim() {
                    "none" => norm.unnormalized = true,
                    "components" | "nc" => norm.normalize_components = true,
                    "sqrt" => norm.square_root = true,
                    "mass" => norm.normalize_mass = true,
                    "l2" | "" => {}
                    other => bail!("unknown VLAD normalisation `{other}`"),
                }
            }
            let vlad = Vlad::from_codebook(codebook, norm);
            match &assignments {
                Some(a) => vlad_encode(
                    features.descriptors.view(),
                    vlad.codebook.centres.view(),
                    a,
                    norm,
                )?,
                None => vlad.transform(&features)?,
            }
        }
        EncodingArg::Bovw => {
            let norm = match args.norm.as_deref().unwrap_or("sqrt") {
                "none" => BovwNorm::None,
                "l1" => BovwNorm::L1,
                "sqrt" | "sqrt,l2" => BovwNorm::SqrtL2,
                other => bail!("unknown BoVW normalisation `{other}` (none, l1, sqrt)"),
            };
            let assignment = match args.soft {
                Some(sigma) => BovwAssignment::Soft {
                    sigma,
                    n_nearest: args.nearest,
                },
                None => BovwAssignment::Hard,
            };
            let bovw = crate::output::flags(Bovw::from_codebook(
                codebook,
                BovwParams {
                    assignment,
                    pyramid: args.pyramid.clone(),
                    norm,
                    ..Default::default()
                },
            ))?;
            match &assignments {
                Some(a) => {
                    if a.len() != features.descriptors.nrows() {
                        bail!(
                            "{} assignments for {} descriptors",
                            a.len(),
                            features.descriptors.nrows()
                        );
                    }
                    bovw.encode_labels(a, &features)?
                }
                None => bovw.transform(&features)?,
            }
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let dim = out.len();
    write_matrix(&args.output, &Array2::from_shape_vec((1, dim), out)?)?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({ "dim": dim, "k": k, "descriptors": features.descriptors.nrows(), "seconds": seconds })
        );
    } else {
        println!(
            "{dim}-dimensional encoding of {} descriptors in {seconds:.4} s -> {}",
            features.descriptors.nrows(),
            args.output.display()
        );
    }
    Ok(())
}
