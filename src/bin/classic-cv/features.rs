//! `dsift`: dense SIFT descriptors of one or many images, written as `.npy`; `hog`: one HOG
//! vector per image, written as one `.npy` matrix.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use classic_cv::features::hog::{BlockNorm, Hog};
use classic_cv::features::sift::{DenseSift, Window};
use classic_cv::pipeline::Transform;
use classic_cv::{Image, npy, transform_all};

use crate::Globals;

/// Arguments of `dsift`.
#[derive(Args, Debug)]
pub struct DsiftArgs {
    /// Images (PNG, JPEG, PNM; raw little-endian `.f32` with --size), or directories of them.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Distance between keypoints in pixels.
    #[arg(long, default_value_t = 4)]
    pub step: usize,
    /// Spatial bin size in pixels (single-scale mode).
    #[arg(long, default_value_t = 8)]
    pub bin_size: usize,
    /// Spatial window.
    #[arg(long, value_enum, default_value = "flat")]
    pub window: Window,
    /// Gaussian window sigma, in bins.
    #[arg(long, default_value_t = 2.0)]
    pub window_size: f32,
    /// Multi-scale (PHOW) bin sizes, e.g. 4,6,8: each after smoothing with sigma = size/magnif
    /// (default: single-scale, --bin-size).
    #[arg(long, value_delimiter = ',', value_name = "SIZES")]
    pub scales: Vec<usize>,
    /// Bin size / smoothing sigma ratio of the multi-scale mode.
    #[arg(long, default_value_t = 6.0)]
    pub magnif: f32,
    /// Zero the descriptors whose mass is below this (vl_phow uses 0.005).
    #[arg(long, default_value_t = 0.0)]
    pub contrast_threshold: f32,
    /// Apply RootSIFT (L1-normalise, square root).
    #[arg(long)]
    pub root_sift: bool,
    /// Size of raw `.f32` images, as WIDTHxHEIGHT (default: none; needed for `.f32`).
    #[arg(long, value_name = "WxH")]
    pub size: Option<String>,
    /// Output `.npy` (float32 N x 128); a directory (one `.npy` per image) for several images.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Also write the keypoints (float32 N x 4: x, y, scale, norm); a directory for several
    /// images (default: not written).
    #[arg(long, value_name = "FILE")]
    pub keypoints_out: Option<PathBuf>,
    /// Benchmarking: run the extraction this many times and report the median time
    /// (reading and writing files excluded).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub repeat: usize,
}

/// `classic-cv dsift`.
pub fn dsift(args: &DsiftArgs, g: &Globals) -> Result<()> {
    let params = DenseSift {
        step: args.step,
        bin_size: args.bin_size,
        window: args.window,
        window_size: args.window_size,
        bounds: None,
        contrast_threshold: args.contrast_threshold,
        root_sift: args.root_sift,
        scales: args.scales.clone(),
        magnif: args.magnif,
    };
    crate::output::flags(params.validate())?;
    if !(1..=1000).contains(&args.repeat) {
        return Err(crate::output::usage("--repeat must be 1 to 1000"));
    }
    let size = match &args.size {
        Some(s) => Some(
            crate::output::flags(classic_cv::image::parse_size(s))
                .with_context(|| format!("--size {s}"))?,
        ),
        None => None,
    };
    let (paths, many) = expand_inputs(&args.images)?;
    let kind = if many {
        crate::output::Kind::Dir
    } else {
        crate::output::Kind::File
    };
    let mut outputs = vec![(args.output.as_path(), kind)];
    if let Some(f) = &args.keypoints_out {
        outputs.push((f.as_path(), kind));
    }
    let inputs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    crate::output::check(&outputs, &inputs)?;
    let images = paths
        .iter()
        .map(|p| Image::load_any(p, size).with_context(|| format!("reading {}", p.display())))
        .collect::<Result<Vec<_>>>()?;

    let mut times = Vec::with_capacity(args.repeat);
    let mut result = None;
    let cpu_start = process_cpu_ms();
    for _ in 0..args.repeat {
        let start = Instant::now();
        let out = transform_all(&params, &images);
        times.push(start.elapsed().as_secs_f64() * 1e3);
        result = Some(out);
    }
    let sets = match result
        .expect("at least one run")
        .map_err(anyhow::Error::from)
    {
        Ok(sets) => sets,
        Err(e) => {
            // Name the image that failed: rerun the extraction image by image.
            for (p, img) in paths.iter().zip(&images) {
                params
                    .extract(img)
                    .with_context(|| format!("extracting {}", p.display()))?;
            }
            return Err(e);
        }
    };
    let cpu_ms_per_run = cpu_start
        .zip(process_cpu_ms())
        .map(|(a, b)| (b - a) / args.repeat as f64);
    times.sort_by(f64::total_cmp);
    let median_ms = times[times.len() / 2];

    let stems: Vec<String> = paths
        .iter()
        .map(|p| {
            p.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "image".into())
        })
        .collect();
    if many {
        let mut sorted = stems.clone();
        sorted.sort();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            anyhow::bail!(
                "two input images share the name `{}`: outputs would collide",
                w[0]
            );
        }
        std::fs::create_dir_all(&args.output)
            .with_context(|| format!("creating {}", args.output.display()))?;
        if let Some(f) = &args.keypoints_out {
            std::fs::create_dir_all(f).with_context(|| format!("creating {}", f.display()))?;
        }
    }
    let target = |base: &Path, stem: &str| {
        if many {
            base.join(format!("{stem}.npy"))
        } else {
            base.to_path_buf()
        }
    };
    let mut total = 0;
    for (set, stem) in sets.iter().zip(&stems) {
        npy::write_array2(target(&args.output, stem), &set.descriptors)?;
        if let Some(f) = &args.keypoints_out {
            npy::write_array2(target(f, stem), &set.frames())?;
        }
        total += set.len();
    }
    let per_image_ms = median_ms / images.len() as f64;
    if g.json {
        let per: Vec<_> = sets
            .iter()
            .zip(&paths)
            .map(|(s, p)| serde_json::json!({"image": p, "width": s.width, "height": s.height, "descriptors": s.len()}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "images": per, "descriptors": total, "output": args.output,
                "repeat": args.repeat, "extract_ms_median": median_ms,
                "extract_ms_per_image": per_image_ms,
                "cpu_ms_per_run": cpu_ms_per_run,
                "threads": rayon::current_num_threads(),
            })
        );
    } else {
        println!(
            "{} descriptors from {} image(s) written to {} ({:.2} ms per image, {} thread(s))",
            total,
            images.len(),
            args.output.display(),
            per_image_ms,
            rayon::current_num_threads()
        );
    }
    Ok(())
}

/// Block normalisation names on the command line (scikit-image's).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum BlockNormArg {
    /// v / (|v|_1 + eps)
    #[value(name = "L1")]
    L1,
    /// sqrt(v / (|v|_1 + eps))
    #[value(name = "L1-sqrt")]
    L1Sqrt,
    /// v / sqrt(|v|_2^2 + eps^2)
    #[value(name = "L2")]
    L2,
    /// L2, clipped at 0.2, L2 again
    #[value(name = "L2-Hys")]
    L2Hys,
}

/// Arguments of `hog`.
#[derive(Args, Debug)]
pub struct HogArgs {
    /// Images (PNG, JPEG, PNM), or directories of them; all of one size.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Orientation bins over [0, 180) degrees.
    #[arg(long, default_value_t = 9)]
    pub orientations: usize,
    /// Cell side in pixels.
    #[arg(long, default_value_t = 8)]
    pub cell: usize,
    /// Block side in cells.
    #[arg(long, default_value_t = 3)]
    pub block: usize,
    /// Block normalisation.
    #[arg(long, value_enum, default_value = "L2-Hys")]
    pub block_norm: BlockNormArg,
    /// Square root of each pixel first (power-law compression).
    #[arg(long)]
    pub transform_sqrt: bool,
    /// Output `.npy` (float32, one row per image in the order given, directories sorted).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
}

/// `classic-cv hog`.
pub fn hog(args: &HogArgs, g: &Globals) -> Result<()> {
    let params = Hog {
        orientations: args.orientations,
        cell: args.cell,
        block: args.block,
        block_norm: match args.block_norm {
            BlockNormArg::L1 => BlockNorm::L1,
            BlockNormArg::L1Sqrt => BlockNorm::L1Sqrt,
            BlockNormArg::L2 => BlockNorm::L2,
            BlockNormArg::L2Hys => BlockNorm::L2Hys,
        },
        transform_sqrt: args.transform_sqrt,
    };
    crate::output::flags(params.validate())?;
    let (paths, _) = expand_inputs(&args.images)?;
    let images = paths
        .iter()
        .map(|p| Image::load_any(p, None).with_context(|| format!("reading {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let (w, h) = (images[0].width(), images[0].height());
    if let Some((p, img)) = paths
        .iter()
        .zip(&images)
        .find(|(_, i)| (i.width(), i.height()) != (w, h))
    {
        anyhow::bail!(
            "{}: {}x{} pixels, but {} is {w}x{h}: one matrix needs images of one size",
            p.display(),
            img.width(),
            img.height(),
            paths[0].display()
        );
    }
    let dim = params
        .output_len(w, h)
        .with_context(|| format!("{}", paths[0].display()))?;
    let start = Instant::now();
    let rows = params.transform_batch(&images)?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let matrix = ndarray::Array2::from_shape_vec((rows.len(), dim), rows.concat())?;
    npy::write_array2(&args.output, &matrix)?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({"images": paths.len(), "dim": dim, "output": args.output, "ms": ms})
        );
    } else {
        println!(
            "{} HOG vector(s) of {dim} values written to {} ({:.2} ms per image)",
            paths.len(),
            args.output.display(),
            ms / paths.len() as f64
        );
    }
    Ok(())
}

/// Expands directories into their image files (sorted); returns the paths and whether the
/// output is a directory (several images, or a directory given).
fn expand_inputs(inputs: &[PathBuf]) -> Result<(Vec<PathBuf>, bool)> {
    let mut paths = Vec::new();
    let mut many = inputs.len() > 1;
    for p in inputs {
        if p.is_dir() {
            many = true;
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("listing {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.is_file()
                        && (classic_cv::image::has_image_extension(f)
                            || f.extension().is_some_and(|e| e.eq_ignore_ascii_case("f32")))
                })
                .collect();
            found.sort();
            anyhow::ensure!(
                !found.is_empty(),
                "{}: no images in this directory",
                p.display()
            );
            paths.extend(found);
        } else {
            paths.push(p.clone());
        }
    }
    Ok((paths, many))
}

/// CPU time (user + system) of the whole process so far, in ms, from `/proc/self/stat`
/// (Linux; 100 ticks per second, the kernel's `USER_HZ`); `None` elsewhere. Used to report
/// timings that are robust to other processes sharing the machine.
fn process_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10.0)
}
