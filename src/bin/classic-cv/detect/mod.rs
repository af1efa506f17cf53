//! `detect` and `eval-detector`: Viola-Jones with OpenCV cascades.

pub mod cascades;
pub mod train;
pub mod video;

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use classic_cv::datasets;
use classic_cv::detect::{self, DetectParams, Detection, Detector, FrameStream, Grouping};
use classic_cv::draw::Canvas;
use classic_cv::image::{Image, Rect, parse_size};

use crate::Globals;

/// Detection options shared by `detect` and `eval-detector`.
#[derive(Args, Debug, Clone)]
pub struct DetectOpts {
    #[arg(long, value_name = "NAME|XML", default_value = cascades::DEFAULT_CASCADE,
          help = cascades::CASCADE_HELP)]
    pub cascade: PathBuf,
    /// Pyramid scale step (> 1).
    #[arg(long, value_name = "STEP", default_value_t = 1.1)]
    pub scale_factor: f64,
    /// Raw windows a box needs beyond one (0 = raw windows).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub min_neighbors: usize,
    /// Smallest window side in pixels.
    #[arg(long, value_name = "N", default_value_t = 24)]
    pub min_size: usize,
    /// Largest window side in pixels (default: the image size).
    #[arg(long, value_name = "N")]
    pub max_size: Option<usize>,
    /// Histogram-equalise each image first (OpenCV's equalizeHist).
    #[arg(long)]
    pub equalize: bool,
    /// Plain IoU non-maximum suppression at this IoU instead of OpenCV's grouping (default:
    /// OpenCV's grouping).
    #[arg(long, value_name = "IOU")]
    pub nms: Option<f32>,
}

impl DetectOpts {
    /// The library parameters these options give.
    pub(crate) fn params(&self) -> DetectParams {
        DetectParams {
            scale_factor: self.scale_factor,
            min_neighbors: self.min_neighbors,
            min_size: (self.min_size, self.min_size),
            max_size: self.max_size.map(|m| (m, m)),
            grouping: match self.nms {
                Some(iou) => Grouping::Nms { iou },
                None => Grouping::OpenCv,
            },
        }
    }

    /// Loads the cascade and checks the parameters.
    pub(crate) fn detector(&self) -> Result<Detector> {
        crate::output::flags(self.params().validate())?;
        let cascade = cascades::load(&self.cascade)?;
        let det = Detector::new(cascade)?;
        Ok(det)
    }
}

/// Arguments of `detect`.
#[derive(Args, Debug)]
pub struct DetectArgs {
    #[command(flatten)]
    pub opts: DetectOpts,
    /// Images to scan.
    #[arg(value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Write the JSON lines (one per image or frame) to this file (default: stdout).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Scan every image of this directory, sorted by name (default: the IMAGE arguments).
    #[arg(long, value_name = "DIR", conflicts_with = "raw")]
    pub image_dir: Option<PathBuf>,
    /// Read raw 8-bit gray frames of this size from stdin (e.g. `ffmpeg ... -f rawvideo
    /// -pix_fmt gray -`); prints the frame rate on stderr (default: off).
    #[arg(long, value_name = "WxH")]
    pub raw: Option<String>,
    /// Save each image with its boxes drawn into this directory, as STEM.png; inputs that
    /// share a stem are STEM.png, STEM-2.png, ... in input order (default: not drawn).
    #[arg(long, value_name = "DIR")]
    pub draw: Option<PathBuf>,
    /// Read the frames of this video file through ffmpeg: one JSON line per frame,
    /// `{"frame": i, "boxes": [...]}` (default: off).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["raw", "image_dir", "camera"])]
    pub video: Option<PathBuf>,
    /// Read frames from this camera through ffmpeg (Linux: /dev/video0; macOS: a device
    /// index such as 0; Windows: the device name) (default: off).
    #[arg(long, value_name = "DEVICE", conflicts_with_all = ["raw", "image_dir"])]
    pub camera: Option<String>,
    /// With --video or --camera: write the frames with their boxes drawn to this video
    /// file (e.g. OUT.mp4), encoded by ffmpeg (default: not written).
    #[arg(long, value_name = "FILE")]
    pub draw_video: Option<PathBuf>,
}

/// Arguments of `eval-detector`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub opts: DetectOpts,
    /// dlib imglab XML with the true boxes (image paths relative to it).
    #[arg(long, value_name = "boxes.xml")]
    pub truth: PathBuf,
    /// IoU a detection needs to match a true box.
    #[arg(long, value_name = "IOU", default_value_t = 0.5)]
    pub iou: f32,
    /// Save the precision-recall curve (axes, ticks, AP in the title) to this PNG (default:
    /// not written).
    #[arg(short, long, value_name = "PNG")]
    pub output: Option<PathBuf>,
    /// Save each image of the truth file into this directory with true positives in green,
    /// false positives in red and missed true boxes in yellow, and a legend below; named
    /// as `detect --draw` names them (default: not drawn).
    #[arg(long, value_name = "DIR")]
    pub draw: Option<PathBuf>,
}

/// `classic-cv detect`.
pub fn detect(args: &DetectArgs, g: &Globals) -> Result<()> {
    let mut images = args.images.clone();
    let output = match &args.output {
        Some(p) => Some(p.clone()),
        None if g.json => deprecated_json_output(&mut images),
        None => None,
    };
    let video_in = args.video.is_some() || args.camera.is_some();
    if [
        !images.is_empty(),
        args.image_dir.is_some(),
        args.raw.is_some(),
        args.video.is_some(),
        args.camera.is_some(),
    ]
    .iter()
    .filter(|&&b| b)
    .count()
        > 1
    {
        return Err(crate::output::usage(
            "give images, --image-dir DIR, --raw WxH, --video FILE or --camera DEVICE, not several of them",
        ));
    }
    if args.draw_video.is_some() && !video_in {
        return Err(crate::output::usage(
            "--draw-video needs --video FILE or --camera DEVICE",
        ));
    }
    let raw_size = match &args.raw {
        Some(size) => {
            Some(crate::output::flags(parse_size(size)).with_context(|| format!("--raw {size}"))?)
        }
        None => None,
    };
    let mut inputs: Vec<&Path> = images.iter().map(|p| p.as_path()).collect();
    inputs.push(&args.opts.cascade);
    if let Some(v) = &args.video {
        inputs.push(v);
    }
    let mut outputs = vec![];
    if let Some(v) = &args.draw_video {
        outputs.push((v.as_path(), crate::output::Kind::File));
    }
    if let Some(p) = &output {
        outputs.push((p.as_path(), crate::output::Kind::File));
    }
    if let Some(d) = &args.draw {
        outputs.push((d.as_path(), crate::output::Kind::Dir));
    }
    crate::output::check(&outputs, &inputs)?;
    let det = args.opts.detector()?;
    let params = args.opts.params();
    let images: Vec<PathBuf> = match &args.image_dir {
        Some(dir) => crate::ui::images_in(dir)?,
        None => images,
    };
    if raw_size.is_none() && images.is_empty() && !video_in {
        return Err(crate::output::usage(
            "no image to scan: give IMAGE..., --image-dir DIR, --raw WxH, --video FILE or --camera DEVICE",
        ));
    }
    let names = draw_names(images.iter().map(PathBuf::as_path));
    if let Some(dir) = &args.draw {
        check_drawings(dir, &names, &images)?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = output
        .as_deref()
        .map(crate::output::Streamed::create)
        .transpose()?;
    let mut stdout = BufWriter::new(std::io::stdout().lock());
    let out: &mut dyn Write = match &mut file {
        Some(f) => f,
        None => &mut stdout,
    };
    if let Some((w, h)) = raw_size {
        let mut stdin = std::io::stdin().lock();
        let source = FrameSource {
            input: &mut stdin,
            width: w,
            height: h,
            key: "image",
            video: None,
        };
        raw_stream(&det, params, args, source, out)?;
        drop(stdout);
        return file.map_or(Ok(()), |f| f.finish());
    }
    if video_in {
        video::run(&det, params, args, out)?;
        drop(stdout);
        return file.map_or(Ok(()), |f| f.finish());
    }
    let mut total = 0;
    for (path, png) in images.iter().zip(&names) {
        let img = Image::load(path)?;
        let found =
            detect_image(&det, &img, &args.opts).with_context(|| path.display().to_string())?;
        total += found.len();
        let name = path.display().to_string();
        writeln!(
            out,
            "{}",
            json_line("image", serde_json::json!(name), &found)
        )?;
        if let Some(dir) = &args.draw {
            let mut canvas = photo_canvas(&img, Some(path));
            let thickness = box_thickness(img.width(), img.height());
            for d in &found {
                canvas.draw_rect(d.rect, GREEN, thickness);
            }
            canvas.save_png(dir.join(png))?;
        }
    }
    out.flush()?;
    drop(stdout);
    if let (Some(f), Some(p)) = (file, &output) {
        f.finish()?;
        eprintln!(
            "{} image(s), {total} detection(s) written to {}",
            images.len(),
            p.display()
        );
    }
    Ok(())
}

/// The output file of the deprecated spelling `--json FILE.json`: the word after the global
/// `--json` names the output only when it ends in `.json`, `.jsonl` or `.ndjson` (never an
/// image); it is then taken out of the image list, with a warning.
fn deprecated_json_output(images: &mut Vec<PathBuf>) -> Option<PathBuf> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let word = PathBuf::from(&argv.windows(2).find(|w| w[0] == "--json")?[1]);
    let is_json = word.extension().is_some_and(|e| {
        ["json", "jsonl", "ndjson"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    });
    if !is_json {
        return None;
    }
    let k = images.iter().position(|i| *i == word)?;
    eprintln!(
        "warning: `--json FILE` is deprecated and will be removed: write `-o {}` (`--json` \
         alone means JSON on stdout)",
        word.display()
    );
    Some(images.remove(k))
}

/// `{"<key>": ..., "boxes": [[x, y, w, h], ...]}` with the keys in that order (the key is
/// `image`, or `frame` for video frames).
fn json_line(key: &str, image: serde_json::Value, found: &[Detection]) -> String {
    format!("{{\"{key}\":{},\"boxes\":{}}}", image, boxes_json(found))
}

/// The boxes as the JSON array `[[x, y, w, h], ...]` (`detect`'s lines and `serve`'s answers).
pub(crate) fn boxes_json(found: &[Detection]) -> serde_json::Value {
    found
        .iter()
        .map(|d| serde_json::json!([d.rect.x, d.rect.y, d.rect.width, d.rect.height]))
        .collect()
}

/// Detects in a decoded image as `detect` does: 8-bit pixels (`round(255 v)`), equalised
/// first when the options ask for it.
pub(crate) fn detect_image(
    det: &Detector,
    img: &Image,
    opts: &DetectOpts,
) -> Result<Vec<Detection>> {
    detect_gray(det, img.to_u8(), img.width(), img.height(), opts)
}

/// [`detect_image`] on raw 8-bit gray pixels.
pub(crate) fn detect_gray(
    det: &Detector,
    mut px: Vec<u8>,
    width: usize,
    height: usize,
    opts: &DetectOpts,
) -> Result<Vec<Detection>> {
    if opts.equalize {
        detect::resize::equalize_hist(&mut px);
    }
    Ok(det.detect_u8(&px, width, height, &opts.params())?)
}

/// A stream of raw 8-bit gray frames: stdin (`--raw`) or an ffmpeg child (`--video`).
pub(crate) struct FrameSource<'a> {
    pub input: &'a mut dyn Read,
    pub width: usize,
    pub height: usize,
    /// The JSON key of the frame number.
    pub key: &'static str,
    /// Where the annotated frames go (`--draw-video`).
    pub video: Option<&'a mut video::VideoOutput>,
}

pub(crate) fn raw_stream(
    det: &Detector,
    params: DetectParams,
    args: &DetectArgs,
    source: FrameSource,
    out: &mut dyn Write,
) -> Result<()> {
    let FrameSource {
        input: stdin,
        width: w,
        height: h,
        key,
        mut video,
    } = source;
    let mut stream = FrameStream::new(det, w, h, params)?;
    // One frame per thread at a time: frames are detected in parallel (each one in
    // parallel inside too) and written in order.
    // Frames in flight are bounded to 256 MiB (at least one frame).
    let batch = rayon::current_num_threads().clamp(1, ((1usize << 28) / (w * h)).max(1));
    let mut frames = vec![vec![0u8; w * h]; batch];
    let start = Instant::now();
    let mut last_report = Instant::now();
    let mut n = 0usize;
    loop {
        let mut full = 0;
        let mut short = None;
        for f in frames.iter_mut() {
            let got = read_full(stdin, f)?;
            if got == f.len() {
                full += 1;
                continue;
            }
            if got > 0 {
                short = Some(got);
            }
            break;
        }
        // Drawings show the frames as read; detection sees them equalised if asked.
        let equalized: Vec<Vec<u8>> = if args.opts.equalize {
            frames[..full]
                .iter()
                .map(|f| {
                    let mut e = f.clone();
                    detect::resize::equalize_hist(&mut e);
                    e
                })
                .collect()
        } else {
            Vec::new()
        };
        let views: Vec<&[u8]> = if args.opts.equalize {
            equalized.iter().map(|f| &f[..]).collect()
        } else {
            frames[..full].iter().map(|f| &f[..]).collect()
        };
        let found = stream.detect_batch(&views)?;
        for (k, found) in found.iter().enumerate() {
            writeln!(out, "{}", json_line(key, serde_json::json!(n + k), found))?;
            if let Some(v) = video.as_deref_mut() {
                v.write(&frames[k], found)?;
            }
            if let Some(dir) = &args.draw {
                let img = Image::from_u8(w, h, &frames[k])?;
                let mut canvas = photo_canvas(&img, None);
                for d in found {
                    canvas.draw_rect(d.rect, GREEN, box_thickness(w, h));
                }
                canvas.save_png(dir.join(format!("{:06}.png", n + k)))?;
            }
        }
        out.flush()?;
        n += full;
        if let Some(got) = short {
            bail!(
                "raw frame size mismatch: stdin ended after {got} bytes of frame {n}, but a \
                 {w}x{h} gray frame has {} bytes (check --raw WxH and -pix_fmt gray)",
                w * h
            );
        }
        if full < batch {
            break;
        }
        if last_report.elapsed().as_secs_f64() >= 2.0 {
            eprintln!(
                "{n} frames, {:.1} fps",
                n as f64 / start.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    out.flush()?;
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{n} frames of {w}x{h} in {secs:.3} s: {:.1} fps",
        if secs > 0.0 { n as f64 / secs } else { 0.0 }
    );
    Ok(())
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(r: &mut (impl Read + ?Sized), buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading frames from stdin"),
        }
    }
    Ok(got)
}

/// Colours of drawn boxes: detections (true positives), false positives, missed true boxes.
const GREEN: [u8; 3] = [0, 255, 0];
const RED: [u8; 3] = [255, 0, 0];
const YELLOW: [u8; 3] = [255, 220, 0];

/// The `--draw` file name of each input: `STEM.png`, and for a stem seen before (or a name
/// taken), `STEM-2.png`, `STEM-3.png`, ... in input order.
fn draw_names<'a>(paths: impl Iterator<Item = &'a Path>) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    paths
        .map(|p| {
            let stem = p
                .file_stem()
                .map_or("image".into(), |s| s.to_string_lossy().into_owned());
            let mut name = format!("{stem}.png");
            let mut k = 2;
            while !taken.insert(name.clone()) {
                name = format!("{stem}-{k}.png");
                k += 1;
            }
            name
        })
        .collect()
}

/// Checks that no drawing (`names` in `dir`) would replace one of the `photos`.
fn check_drawings(dir: &Path, names: &[String], photos: &[PathBuf]) -> Result<()> {
    let targets: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    let outputs: Vec<_> = targets
        .iter()
        .map(|t| (t.as_path(), crate::output::Kind::File))
        .collect();
    let inputs: Vec<&Path> = photos.iter().map(PathBuf::as_path).collect();
    crate::output::check(&outputs, &inputs)
}

/// `img` (read from `source`, if a file) as a canvas in the photo's own colours (gray when
/// it has none). Boxes are drawn on it [`box_thickness`] wide.
fn photo_canvas(img: &Image, source: Option<&Path>) -> Canvas {
    let mut canvas = Canvas::from_gray(img);
    // `img` was decoded from `source` within the pixel limit: the same file again.
    if let Some(Ok(rgb)) = source.map(|s| ::image::open(s).map(|p| p.into_rgb8()))
        && rgb.width() as usize == img.width()
        && rgb.height() as usize == img.height()
    {
        for (x, y, p) in rgb.enumerate_pixels() {
            canvas.put(x as i64, y as i64, p.0);
        }
    }
    canvas
}

/// `eval-detector --draw`: the photo with its true positives green, false positives red and
/// missed true boxes yellow, over a legend strip with the counts.
fn draw_matches(img: &Image, source: &Path, dets: &[Rect], truth: &[Rect], iou: f32) -> Canvas {
    let photo = photo_canvas(img, Some(source));
    let hit = detect::eval::match_greedy(dets, truth, iou);
    // The true boxes matched by the same greedy rule, seen from the truth's side.
    let found = detect::eval::match_greedy(truth, dets, iou);
    let (w, h) = (img.width(), img.height());
    let tp = hit.iter().filter(|&&m| m).count();
    let misses = found.iter().filter(|&&m| !m).count();
    let legend = format!(
        "TP {tp} green  FP {} red  miss {misses} yellow",
        dets.len() - tp
    );
    let scale = (w / classic_cv::draw::text_width(&legend, 1)).clamp(1, 4) as u32;
    let strip = 7 * scale as usize + 6;
    let mut canvas = Canvas::new(w, h + strip, [0, 0, 0]);
    for y in 0..h {
        for x in 0..w {
            canvas.put(x as i64, y as i64, photo.pixel(x, y));
        }
    }
    canvas.draw_text(3, (h + 3) as i64, &legend, [255, 255, 255], scale);
    let thickness = box_thickness(w, h);
    for (t, _) in truth.iter().zip(&found).filter(|(_, m)| !**m) {
        canvas.draw_rect(*t, YELLOW, thickness);
    }
    for (d, m) in dets.iter().zip(&hit) {
        canvas.draw_rect(*d, if *m { GREEN } else { RED }, thickness);
    }
    canvas
}

/// Box line width for an image: 1 pixel per 300 pixels of the longer side, 1 to 20.
fn box_thickness(width: usize, height: usize) -> u32 {
    ((width.max(height) as f64 / 300.0).round() as u32).clamp(1, 20)
}

/// `classic-cv eval-detector`.
pub fn eval(args: &EvalArgs, g: &Globals) -> Result<()> {
    if !(args.iou > 0.0 && args.iou <= 1.0) {
        return Err(crate::output::usage("--iou must lie in (0, 1]"));
    }
    let mut outputs: Vec<_> = args
        .output
        .iter()
        .map(|p| (p.as_path(), crate::output::Kind::File))
        .collect();
    if let Some(d) = &args.draw {
        outputs.push((d.as_path(), crate::output::Kind::Dir));
    }
    crate::output::check(&outputs, &[&args.truth, &args.opts.cascade])?;
    let det = args.opts.detector()?;
    let params = args.opts.params();
    let truth = datasets::read_imglab(&args.truth)?;
    let root = args.truth.parent().unwrap_or(Path::new("."));
    let names = draw_names(truth.images.iter().map(|e| Path::new(&e.file)));
    if let Some(dir) = &args.draw {
        let photos: Vec<PathBuf> = truth.images.iter().map(|e| root.join(&e.file)).collect();
        check_drawings(dir, &names, &photos)?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut per_image = Vec::new();
    for (entry, png) in truth.images.iter().zip(&names) {
        let file = root.join(&entry.file);
        let img = Image::load(&file)?;
        let (w, h) = (img.width(), img.height());
        let mut px = img.to_u8();
        if args.opts.equalize {
            detect::resize::equalize_hist(&mut px);
        }
        let found = det
            .detect_u8(&px, w, h, &params)
            .with_context(|| file.display().to_string())?;
        // Confidence: neighbour count first, then the best last-stage sum.
        let dets: Vec<(Rect, f64)> = found
            .iter()
            .map(|d| (d.rect, d.neighbors as f64 + d.score.tanh() * 0.5 + 0.5))
            .collect();
        let gt: Vec<Rect> = entry
            .boxes
            .iter()
            .filter(|b| !b.ignore)
            .map(|b| {
                b.clipped(w, h).with_context(|| {
                    format!(
                        "{}: the box {}x{} at ({}, {}) of {} lies outside the {w}x{h} image",
                        args.truth.display(),
                        b.width,
                        b.height,
                        b.left,
                        b.top,
                        entry.file
                    )
                })
            })
            .collect::<Result<_>>()?;
        if let Some(dir) = &args.draw {
            let rects: Vec<Rect> = dets.iter().map(|d| d.0).collect();
            draw_matches(&img, &file, &rects, &gt, args.iou).save_png(dir.join(png))?;
        }
        per_image.push((dets, gt));
    }
    let rep = detect::eval::evaluate(&per_image, args.iou);
    if let Some(p) = &args.output {
        classic_cv::plot::precision_recall_chart(&rep.curve, rep.average_precision).save_png(p)?;
    }
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "images": per_image.len(), "iou": (args.iou as f64 * 1e6).round() / 1e6, "tp": rep.tp, "fp": rep.fp,
                "fn": rep.fn_, "precision": rep.precision, "recall": rep.recall,
                "average_precision": rep.average_precision, "curve": args.output,
            })
        );
    } else {
        println!(
            "{} images, IoU >= {}: TP {}  FP {}  FN {}  precision {:.4}  recall {:.4}  AP {:.4}",
            per_image.len(),
            args.iou,
            rep.tp,
            rep.fp,
            rep.fn_,
            rep.precision,
            rep.recall,
            rep.average_precision,
        );
        if let Some(p) = &args.output {
            println!("PR curve: {}", p.display());
        }
    }
    Ok(())
}
