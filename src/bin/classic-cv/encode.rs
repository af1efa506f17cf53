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
    /// Descriptors: `.npy` files (n x d) or raw little-endian `.f32` with `--dim`, or
    /// directories of them (such as `dsift`'s output for several images; files sorted by
    /// name). All are used, or `--sample` of them.
    #[arg(required = true, value_name = "DESCRIPTORS")]
    pub descriptors: Vec<PathBuf>,
    /// Keep only N descriptors, drawn uniformly from all the files as they are read
    /// (reservoir sampling seeded by --seed) (default: all).
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    /// Number of centres (the `k` of a pipeline config's encoder).
    #[arg(long, value_name = "K", default_value_t = 256)]
    pub clusters: usize,
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
    /// Fit on a random subsample of this many descriptors (default: all).
    #[arg(long, value_name = "N")]
    pub subsample: Option<usize>,
    /// Mini-batch size.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub batch_size: usize,
    /// Descriptor dimension of raw `.f32` inputs (default: none; needed for `.f32`).
    #[arg(long, value_name = "D")]
    pub dim: Option<usize>,
    /// Output centres (`.npy`, or raw `.f32`).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub seed: crate::grammar::SeedArg,
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
    /// Each image's descriptors: `.npy` files (n x d) or raw `.f32` with `--dim`, or
    /// directories of them (files sorted by name); one output row per file, in order.
    #[arg(required = true, value_name = "DESCRIPTORS")]
    pub descriptors: Vec<PathBuf>,
    /// Codebook centres (k x d): `.npy` or raw `.f32`.
    #[arg(long, value_name = "FILE")]
    pub codebook: PathBuf,
    /// Precomputed nearest-centre indices, `.npy` or raw `.u32` (default: computed).
    #[arg(long, value_name = "FILE")]
    pub assignments: Option<PathBuf>,
    /// Keypoints, x and y in the first two columns (`.npy`, raw `.f32`, raw `.f64` with
    /// --keypoints-dim); needed for a spatial pyramid. With several descriptor files, a
    /// directory holding `<stem>.npy` for each (as `dsift --keypoints-out DIR` writes)
    /// (default: none).
    #[arg(long, value_name = "FILE")]
    pub keypoints: Option<PathBuf>,
    /// Columns of raw keypoint files.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub keypoints_dim: usize,
    /// Spatial pyramid grid sizes (BoVW), e.g. `1,2,4`.
    #[arg(long, value_name = "SIZES", value_delimiter = ',', default_value = "1")]
    pub pyramid: Vec<u32>,
    /// Image size `WxH` for the pyramid (default: largest keypoint coordinate + 1).
    #[arg(long, value_name = "WxH")]
    pub size: Option<String>,
    /// BoVW: `none`, `l1` or `sqrt` (square root + L2). VLAD: `none` (unnormalised) or a
    /// comma list of `components`, `sqrt`, `mass` (then global L2; `l2` alone = global L2
    /// only) (default: sqrt for BoVW, l2 for VLAD).
    #[arg(long, value_name = "NORM")]
    pub norm: Option<String>,
    /// BoVW soft assignment: Gaussian sigma, kernel codebook (default: hard assignment).
    #[arg(long, value_name = "SIGMA")]
    pub soft: Option<f32>,
    /// BoVW soft assignment: number of nearest codewords.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub nearest: usize,
    /// Descriptor dimension of raw `.f32` inputs (default: none; needed for `.f32`).
    #[arg(long, value_name = "D")]
    pub dim: Option<usize>,
    /// Output encodings, one row per descriptor file (`.npy` n x dim, or raw `.f32`).
    #[arg(short = 'o', long, value_name = "FILE")]
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
    if args.sample == Some(0) {
        return Err(crate::output::usage("--sample must be at least 1"));
    }
    let files = descriptor_files(&args.descriptors)?;
    let mut inputs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    if !["kmeans++", "plusplus", "pp", "random"].contains(&args.init.as_str()) {
        inputs.push(Path::new(&args.init));
    }
    crate::output::check(&[(&args.output, crate::output::Kind::File)], &inputs)?;
    let (x, read) = read_rows(&files, args.dim, args.sample, g.seed)?;
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
        k: args.clusters,
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
                "files": files.len(),
                "descriptors_read": read,
            })
        );
    } else {
        println!(
            "{} of {read} descriptors from {} file(s); energy {:.4} after {} iterations \
             ({}converged) in {seconds:.3} s; centres -> {}",
            x.nrows(),
            files.len(),
            model.energy(),
            model.n_iter,
            if model.converged { "" } else { "not " },
            args.output.display()
        );
    }
    Ok(())
}

/// The descriptor files `args` name: files as given, directories expanded to their
/// `.npy` / `.f32` / `.f64` files sorted by name.
fn descriptor_files(args: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in args {
        if !p.is_dir() {
            files.push(p.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(p)
            .with_context(|| format!("cannot read {}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| {
                f.is_file()
                    && f.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| ["npy", "f32", "f64"].contains(&e))
            })
            .collect();
        if found.is_empty() {
            bail!(
                "{}: no descriptor files (.npy, .f32, .f64) in this directory",
                p.display()
            );
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// The rows of every file, one file in memory at a time; with `sample`, at most that many
/// rows drawn uniformly from all of them (reservoir sampling, seeded). Also returns the
/// number of rows read.
fn read_rows(
    files: &[PathBuf],
    dim: Option<usize>,
    sample: Option<usize>,
    seed: u64,
) -> Result<(Array2<f32>, usize)> {
    let mut rng = classic_cv::rng::Rng::stream(seed, 0x5a4d_504c);
    let mut kept: Vec<f32> = Vec::new();
    let mut cols: Option<(usize, &Path)> = None;
    let mut seen = 0usize;
    for f in files {
        let m = read_matrix(f, dim, "--dim")?;
        let d = match cols {
            Some((d, _)) if d == m.ncols() => d,
            Some((d, first)) => bail!(
                "{}: descriptors of {} values, but {} has {d}",
                f.display(),
                m.ncols(),
                first.display()
            ),
            None => {
                cols = Some((m.ncols(), f));
                m.ncols()
            }
        };
        for row in m.outer_iter() {
            match sample {
                Some(n) if seen >= n => {
                    let j = rng.below(seen + 1);
                    if j < n {
                        for (dst, &v) in kept[j * d..(j + 1) * d].iter_mut().zip(row.iter()) {
                            *dst = v;
                        }
                    }
                }
                _ => kept.extend(row.iter()),
            }
            seen += 1;
        }
    }
    let d = cols.map_or(0, |(d, _)| d);
    if seen == 0 || d == 0 {
        bail!("no descriptors in {} file(s)", files.len());
    }
    Ok((Array2::from_shape_vec((kept.len() / d, d), kept)?, seen))
}

/// An encoder built once from the codebook and the options, applied to every file.
enum Encoding {
    Vlad(Box<Vlad>, VladNormalization),
    Bovw(Box<Bovw>),
}

impl Encoding {
    fn new(args: &EncodeArgs, codebook: KMeans) -> Result<Self> {
        Ok(match args.encoding {
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
                Encoding::Vlad(Box::new(Vlad::from_codebook(codebook, norm)), norm)
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
                Encoding::Bovw(Box::new(crate::output::flags(Bovw::from_codebook(
                    codebook,
                    BovwParams {
                        assignment,
                        pyramid: args.pyramid.clone(),
                        norm,
                        ..Default::default()
                    },
                ))?))
            }
        })
    }

    /// One image's encoding, from precomputed assignments when given.
    fn encode(&self, features: &LocalFeatures, assignments: Option<&[u32]>) -> Result<Vec<f32>> {
        Ok(match (self, assignments) {
            (Encoding::Vlad(vlad, norm), Some(a)) => vlad_encode(
                features.descriptors.view(),
                vlad.codebook.centres.view(),
                a,
                *norm,
            )?,
            (Encoding::Vlad(vlad, _), None) => vlad.transform(features)?,
            (Encoding::Bovw(bovw), Some(a)) => {
                if a.len() != features.descriptors.nrows() {
                    bail!(
                        "{} assignments for {} descriptors",
                        a.len(),
                        features.descriptors.nrows()
                    );
                }
                bovw.encode_labels(a, features)?
            }
            (Encoding::Bovw(bovw), None) => bovw.transform(features)?,
        })
    }
}

/// One image's local features: its descriptors, and the positions of its frames file.
fn local_features(
    args: &EncodeArgs,
    x: Array2<f32>,
    frames: Option<&Path>,
) -> Result<LocalFeatures> {
    let positions = match frames {
        Some(p) => {
            let f = read_matrix(p, Some(args.keypoints_dim), "--keypoints-dim")?;
            if f.ncols() < 2 {
                bail!("{}: frames need x and y columns", p.display());
            }
            if f.nrows() != x.nrows() {
                bail!(
                    "{}: {} frames for {} descriptors",
                    p.display(),
                    f.nrows(),
                    x.nrows()
                );
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
    Ok(LocalFeatures {
        descriptors: x,
        positions,
        width,
        height,
    })
}

/// `classic-cv encode`.
pub fn encode(args: &EncodeArgs, g: &Globals) -> Result<()> {
    let files = descriptor_files(&args.descriptors)?;
    let many = files.len() > 1 || args.descriptors.iter().any(|p| p.is_dir());
    if many && args.assignments.is_some() {
        return Err(crate::output::usage(
            "--assignments works with one descriptor file only",
        ));
    }
    // The frames file of each descriptor file.
    let frames: Vec<Option<PathBuf>> = match &args.keypoints {
        None => vec![None; files.len()],
        Some(f) if !many => vec![Some(f.clone())],
        Some(dir) => {
            if !dir.is_dir() {
                return Err(crate::output::usage(format!(
                    "--keypoints {}: with several descriptor files, give the directory of \
                     their keypoints (<stem>.npy each)",
                    dir.display()
                )));
            }
            files
                .iter()
                .map(|f| {
                    let stem = f.file_stem().unwrap_or_default().to_string_lossy();
                    Some(dir.join(format!("{stem}.npy")))
                })
                .collect()
        }
    };
    let mut inputs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    inputs.push(args.codebook.as_path());
    inputs.extend(frames.iter().flatten().map(|p| p.as_path()));
    inputs.extend(args.assignments.as_deref());
    crate::output::check(&[(&args.output, crate::output::Kind::File)], &inputs)?;
    let first = read_matrix(&files[0], args.dim, "--dim")?;
    let centres = read_matrix(&args.codebook, Some(first.ncols()), "--dim")?;
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
    let encoding = Encoding::new(args, codebook)?;
    let assignments = args.assignments.as_deref().map(read_indices).transpose()?;
    let start = Instant::now();
    let mut rows: Vec<f32> = Vec::new();
    let mut dim = 0;
    let mut descriptors = 0;
    let mut first = Some(first);
    for (file, frames) in files.iter().zip(&frames) {
        let x = match first.take() {
            Some(x) => x,
            None => read_matrix(file, args.dim, "--dim")?,
        };
        descriptors += x.nrows();
        let features = local_features(args, x, frames.as_deref())
            .with_context(|| file.display().to_string())?;
        let out = encoding
            .encode(&features, assignments.as_deref())
            .with_context(|| file.display().to_string())?;
        dim = out.len();
        rows.extend(out);
    }
    let seconds = start.elapsed().as_secs_f64();
    write_matrix(
        &args.output,
        &Array2::from_shape_vec((files.len(), dim), rows)?,
    )?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({ "dim": dim, "k": k, "images": files.len(),
                "descriptors": descriptors, "seconds": seconds })
        );
    } else {
        println!(
            "{} x {dim} encodings of {descriptors} descriptors from {} file(s) in {seconds:.4} s \
             -> {}",
            files.len(),
            files.len(),
            args.output.display()
        );
    }
    Ok(())
}
