//! `undistort`, `warp` and `birdseye`: backward warps of photos, colour kept.
//!
//! Every input (camera file, homography, images, options) is read and checked before any
//! output is written; outputs are 8-bit PNGs written atomically, never over an input.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, ValueEnum};
use classic_cv::geometry::camera::{Camera, Mat3, Pose};
use classic_cv::geometry::chessboard::{BoardSize, ChessboardParams, find_chessboard_corners};
use classic_cv::geometry::remap::{Border, Interpolation, Sampling, WarpMap};
use classic_cv::geometry::warp::{self, PlaneView};
use classic_cv::persist;

use crate::Globals;

/// Interpolation on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InterpolationArg {
    /// OpenCV's INTER_LINEAR: bilinear with positions rounded to 1/32 pixel (bit-exact).
    Opencv,
    /// Bilinear with exact positions.
    Bilinear,
    /// Nearest pixel.
    Nearest,
}

/// Border mode on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BorderArg {
    /// A constant gray level (`--border-value`).
    Constant,
    /// The nearest edge pixel.
    Replicate,
    /// Mirrored about the edge pixel (OpenCV's BORDER_REFLECT_101).
    Reflect101,
}

/// Sampling options shared by the three commands.
#[derive(Args, Debug, Clone)]
pub struct SamplingOpts {
    /// Interpolation.
    #[arg(long, value_enum, default_value = "opencv")]
    pub interpolation: InterpolationArg,
    /// What lies outside the source image.
    #[arg(long, value_enum, default_value = "constant")]
    pub border: BorderArg,
    /// Gray level (0-255, every channel) of the constant border.
    #[arg(long, default_value_t = 0)]
    pub border_value: u8,
}

impl SamplingOpts {
    fn sampling(&self) -> Sampling {
        Sampling {
            interpolation: match self.interpolation {
                InterpolationArg::Opencv => Interpolation::BilinearOpenCv,
                InterpolationArg::Bilinear => Interpolation::Bilinear,
                InterpolationArg::Nearest => Interpolation::Nearest,
            },
            border: match self.border {
                BorderArg::Constant => Border::Constant(self.border_value as f32 / 255.0),
                BorderArg::Replicate => Border::Replicate,
                BorderArg::Reflect101 => Border::Reflect101,
            },
        }
    }
}

/// Arguments of `undistort`.
#[derive(Args, Debug)]
pub struct UndistortArgs {
    /// Camera file (classic-cv JSON or binary model, as `calibrate` writes it).
    #[arg(long, value_name = "CAMERA")]
    pub camera: PathBuf,
    /// Photos taken with that camera (all of the size it was calibrated at), or directories.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Output PNG for one image; a directory (one `<name>.png` per image) for several.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Benchmarking: apply the map this many times per image and report the median time.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub repeat: usize,
    /// Free scaling 0..1 of the undistorted picture (OpenCV's getOptimalNewCameraMatrix):
    /// 0 keeps only valid pixels (no black corners), 1 keeps every pixel of the photo.
    /// Without it the camera's own matrix is kept, as cv2.undistort does (default: the camera's own matrix).
    #[arg(long, value_name = "A")]
    pub alpha: Option<f64>,
    #[command(flatten)]
    pub sampling: SamplingOpts,
}

/// Arguments of `warp`.
#[derive(Args, Debug)]
pub struct WarpArgs {
    /// JSON file with key "H": a 3x3 array mapping IMAGE's pixels to the output's (as
    /// `homography --json` writes it).
    #[arg(long, value_name = "H.json")]
    pub homography: PathBuf,
    /// The image to warp.
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    /// Output PNG.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Output size WIDTHxHEIGHT (default: the input's size).
    #[arg(long, value_name = "WxH")]
    pub size: Option<String>,
    /// H maps the output's pixels to IMAGE's instead (OpenCV's WARP_INVERSE_MAP).
    #[arg(long)]
    pub inverse: bool,
    /// Benchmarking: build the map and warp this many times, report the median time.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub repeat: usize,
    #[command(flatten)]
    pub sampling: SamplingOpts,
}

/// Arguments of `birdseye`.
#[derive(Args, Debug)]
pub struct BirdseyeArgs {
    /// Camera file (classic-cv JSON or binary model, as `calibrate` writes it).
    #[arg(long, value_name = "CAMERA")]
    pub camera: PathBuf,
    /// The plane to look down on: `height=H,pitch=DEG` (the ground, for a camera H metres
    /// above it pitched down DEG degrees; X right, Y ahead, in metres),
    /// `pose=RX,RY,RZ,TX,TY,TZ` (any plane Z=0 whose pose is the Rodrigues vector and
    /// translation, as calibrate's per-view extrinsics; X right, Y down for a chessboard) or
    /// `board=COLSxROWS,square=S` (the plane of a chessboard with COLSxROWS inner corners
    /// and squares of S metres found in the photo itself; origin at its first corner, X
    /// along its rows, Y along its columns).
    #[arg(long, value_name = "SPEC")]
    pub plane: String,
    /// Area of the plane to show, in metres: X0,Y0,X1,Y1; required with pose= (default: for
    /// the ground -5,1,5,20; for a board, the board and two squares around its inner
    /// corners).
    #[arg(long, value_name = "X0,Y0,X1,Y1", allow_hyphen_values = true)]
    pub area: Option<String>,
    /// Output pixels per metre (default: the output is as wide as the photo).
    #[arg(long, value_name = "PX_PER_M")]
    pub scale: Option<f64>,
    /// The photo.
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    /// Output PNG.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    #[command(flatten)]
    pub sampling: SamplingOpts,
}

/// An 8-bit picture with 1 (gray), 3 (RGB) or 4 (RGBA) interleaved channels.
struct Picture {
    width: usize,
    height: usize,
    channels: usize,
    data: Vec<u8>,
}

/// Reads a photo keeping its colour: gray stays gray, colour stays RGB(A); 16-bit samples
/// are reduced to 8 bits.
fn read_picture(path: &Path) -> Result<Picture> {
    let img =
        ::image::open(path).with_context(|| format!("cannot read image {}", path.display()))?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    ensure!(
        width > 0 && height > 0,
        "{}: image has zero size",
        path.display()
    );
    let colour = img.color();
    let (channels, data) = if !colour.has_color() {
        (1, img.into_luma8().into_raw())
    } else if colour.has_alpha() {
        (4, img.into_rgba8().into_raw())
    } else {
        (3, img.into_rgb8().into_raw())
    };
    Ok(Picture {
        width,
        height,
        channels,
        data,
    })
}

/// Writes a picture as PNG through the crate's atomic writer.
fn write_picture(path: &Path, p: &Picture) -> Result<()> {
    let colour = match p.channels {
        1 => ::image::ExtendedColorType::L8,
        3 => ::image::ExtendedColorType::Rgb8,
        _ => ::image::ExtendedColorType::Rgba8,
    };
    let mut bytes = Vec::new();
    ::image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(&p.data, p.width as u32, p.height as u32, colour)
        .map_err(|e| anyhow::anyhow!("cannot encode {}: {e}", path.display()))?;
    persist::write_atomic(path, &bytes)?;
    Ok(())
}

use ::image::ImageEncoder;

/// Fails if `output` is one of the inputs (same file, after resolving links).
fn refuse_overwrite(output: &Path, inputs: &[PathBuf]) -> Result<()> {
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    crate::output::check(&[(output, crate::output::Kind::File)], &inputs)
}

/// Loads a camera file: classic-cv's own (JSON or binary model of kind `camera`) or OpenCV's
/// FileStorage YAML / XML (`camera_matrix`, `distortion_coefficients`, image size).
fn load_camera(path: &Path) -> Result<Camera> {
    let cam = classic_cv::geometry::storage::load_camera(path)
        .with_context(|| format!("reading camera {}", path.display()))?;
    cam.validate()
        .with_context(|| format!("camera {}", path.display()))?;
    Ok(cam)
}

/// Expands directories into their image files; returns the paths and whether the output is
/// a directory.
fn expand(inputs: &[PathBuf]) -> Result<(Vec<PathBuf>, bool)> {
    let mut out = Vec::new();
    let mut many = inputs.len() > 1;
    for p in inputs {
        if p.is_dir() {
            many = true;
            out.extend(crate::ui::images_in(p)?);
        } else {
            out.push(p.clone());
        }
    }
    ensure!(!out.is_empty(), "no images to process");
    Ok((out, many))
}

/// Warps a picture with a map, checking its size first.
fn apply(map: &WarpMap, p: &Picture, sampling: Sampling, path: &Path) -> Result<Picture> {
    let (sw, sh) = map.src_size();
    ensure!(
        (p.width, p.height) == (sw, sh),
        "{}: image is {}x{}, but the map reads {sw}x{sh} images",
        path.display(),
        p.width,
        p.height
    );
    let data = map.apply_u8(&p.data, p.channels, sampling)?;
    Ok(Picture {
        width: map.width(),
        height: map.height(),
        channels: p.channels,
        data,
    })
}

/// `classic-cv undistort`.
pub fn undistort(args: &UndistortArgs, g: &Globals) -> Result<()> {
    if !(1..=1000).contains(&args.repeat) {
        return Err(crate::output::usage("--repeat must be 1 to 1000"));
    }
    if let Some(a) = args.alpha
        && !(0.0..=1.0).contains(&a)
    {
        return Err(crate::output::usage(format!(
            "--alpha {a}: must be between 0 and 1"
        )));
    }
    let sampling = args.sampling.sampling();
    let camera = load_camera(&args.camera)?;
    let optimal = match args.alpha {
        Some(a) => Some(
            warp::optimal_new_camera(&camera, a, (camera.image_size[0], camera.image_size[1]))
                .with_context(|| format!("camera {}: --alpha {a}", args.camera.display()))?,
        ),
        None => None,
    };
    let (paths, many) = expand(&args.images)?;
    let mut stems: Vec<String> = paths.iter().map(|p| stem(p)).collect();
    if many {
        stems.sort();
        if let Some(w) = stems.windows(2).find(|w| w[0] == w[1]) {
            bail!(
                "two input images share the name `{}`: outputs would collide",
                w[0]
            );
        }
    } else {
        refuse_overwrite(
            &args.output,
            &[&paths[..], std::slice::from_ref(&args.camera)].concat(),
        )?;
    }
    let pictures = paths
        .iter()
        .map(|p| {
            let pic = read_picture(p)?;
            let [cw, ch] = camera.image_size;
            ensure!(
                (pic.width, pic.height) == (cw, ch),
                "{}: image is {}x{}, the camera was calibrated at {cw}x{ch}",
                p.display(),
                pic.width,
                pic.height
            );
            Ok(pic)
        })
        .collect::<Result<Vec<_>>>()?;
    let start = Instant::now();
    let map = warp::undistort_map_banded(&camera, optimal.as_ref().map(|o| &o.intrinsics))?;
    let map_ms = start.elapsed().as_secs_f64() * 1e3;
    let targets: Vec<PathBuf> = paths
        .iter()
        .map(|p| {
            if many {
                args.output.join(format!("{}.png", stem(p)))
            } else {
                args.output.clone()
            }
        })
        .collect();
    if many {
        for t in &targets {
            refuse_overwrite(
                t,
                &[&paths[..], std::slice::from_ref(&args.camera)].concat(),
            )?;
        }
        std::fs::create_dir_all(&args.output)
            .with_context(|| format!("creating {}", args.output.display()))?;
    }
    let mut times = Vec::new();
    for ((pic, path), target) in pictures.iter().zip(&paths).zip(&targets) {
        let mut out = apply(&map, pic, sampling, path)?;
        for _ in 1..args.repeat {
            let t = Instant::now();
            map.apply_u8_into(&pic.data, pic.channels, sampling, &mut out.data)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        write_picture(target, &out)?;
    }
    times.sort_by(f64::total_cmp);
    let apply_ms = times.get(times.len() / 2).copied();
    if g.json {
        let mut line = serde_json::json!({"images": paths.len(), "output": args.output,
            "map_ms": map_ms, "apply_ms_median": apply_ms, "repeat": args.repeat,
            "threads": rayon::current_num_threads()});
        if let Some(o) = &optimal {
            let r = o.valid_roi;
            line["camera_matrix"] = serde_json::json!(o.intrinsics.matrix());
            line["valid_roi"] = serde_json::json!([r.x, r.y, r.width, r.height]);
        }
        println!("{line}");
    } else {
        println!(
            "{} image(s) undistorted into {}",
            paths.len(),
            args.output.display()
        );
    }
    Ok(())
}

/// `classic-cv warp`.
pub fn warp_cmd(args: &WarpArgs, g: &Globals) -> Result<()> {
    let sampling = args.sampling.sampling();
    let h = read_homography(&args.homography)?;
    refuse_overwrite(&args.output, &[args.image.clone(), args.homography.clone()])?;
    let pic = read_picture(&args.image)?;
    let size = match &args.size {
        Some(s) => crate::output::flags(classic_cv::image::parse_size(s))?,
        None => (pic.width, pic.height),
    };
    if !(1..=1000).contains(&args.repeat) {
        return Err(crate::output::usage("--repeat must be 1 to 1000"));
    }
    let src = (pic.width, pic.height);
    let mut times = Vec::with_capacity(args.repeat);
    let mut result = None;
    for _ in 0..args.repeat {
        let start = Instant::now();
        let map = if args.inverse {
            warp::perspective_map_inverse(&h, src, size)
        } else {
            warp::perspective_map(&h, src, size)
        }
        .with_context(|| format!("homography {}", args.homography.display()))?;
        let out = apply(&map, &pic, sampling, &args.image)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        result = Some((map, out));
    }
    let (map, out) = result.expect("at least one run");
    write_picture(&args.output, &out)?;
    times.sort_by(f64::total_cmp);
    report(g, &args.output, &map, times[times.len() / 2])
}

/// `classic-cv birdseye`.
pub fn birdseye(args: &BirdseyeArgs, g: &Globals) -> Result<()> {
    let sampling = args.sampling.sampling();
    let camera = load_camera(&args.camera)?;
    let plane = parse_plane(&args.plane)?;
    let area = match (&args.area, &plane) {
        (Some(a), _) => parse_area(a)?,
        (None, Plane::Ground(_)) => [-5.0, 1.0, 5.0, 20.0],
        (None, Plane::Board { board, square }) => [
            -2.0 * square,
            -2.0 * square,
            (board.cols + 1) as f64 * square,
            (board.rows + 1) as f64 * square,
        ],
        (None, Plane::Pose(_)) => {
            return Err(crate::output::usage(
                "--area X0,Y0,X1,Y1 is needed with --plane pose=...",
            ));
        }
    };
    let scale = args
        .scale
        .unwrap_or(camera.image_size[0] as f64 / (area[2] - area[0]));
    let view = PlaneView {
        x_range: [area[0], area[2]],
        y_range: [area[1], area[3]],
        pixels_per_metre: scale,
    };
    crate::output::flags(view.size())?;
    refuse_overwrite(&args.output, &[args.image.clone(), args.camera.clone()])?;
    let pic = read_picture(&args.image)?;
    let pose = match plane {
        Plane::Ground(pose) | Plane::Pose(pose) => pose,
        Plane::Board { board, square } => board_plane(&camera, &args.image, &pic, board, square)?,
    };
    let map = warp::birdseye_map(&camera, &pose, &view)?;
    let start = Instant::now();
    let out = apply(&map, &pic, sampling, &args.image)?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    write_picture(&args.output, &out)?;
    report(g, &args.output, &map, ms)
}

/// Prints what was written (`warp_ms`: the median time of the warp itself).
fn report(g: &Globals, output: &Path, map: &WarpMap, warp_ms: f64) -> Result<()> {
    if g.json {
        println!(
            "{}",
            serde_json::json!({"output": output, "width": map.width(), "height": map.height(),
                "coverage": map.coverage(), "warp_ms_median": warp_ms,
                "threads": rayon::current_num_threads()})
        );
    } else {
        println!(
            "{}x{} written to {} ({:.1} % of it from the photo)",
            map.width(),
            map.height(),
            output.display(),
            100.0 * map.coverage()
        );
    }
    Ok(())
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into())
}

/// Reads `{"H": [[..], [..], [..]]}` (other keys ignored) and checks it is 3x3 and finite.
fn read_homography(path: &Path) -> Result<Mat3> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let rows = v
        .get("H")
        .and_then(|h| h.as_array())
        .with_context(|| format!("{}: no key \"H\" with a 3x3 array", path.display()))?;
    ensure!(
        rows.len() == 3,
        "{}: \"H\" must have 3 rows, found {}",
        path.display(),
        rows.len()
    );
    let mut h = [[0.0; 3]; 3];
    for (r, row) in rows.iter().enumerate() {
        let row = row
            .as_array()
            .filter(|a| a.len() == 3)
            .with_context(|| format!("{}: row {r} of \"H\" is not 3 numbers", path.display()))?;
        for (c, x) in row.iter().enumerate() {
            h[r][c] = x.as_f64().filter(|x| x.is_finite()).with_context(|| {
                format!("{}: H[{r}][{c}] is not a finite number", path.display())
            })?;
        }
    }
    Ok(h)
}

/// The plane of `birdseye --plane`.
enum Plane {
    /// The ground under a camera at a height, pitched down.
    Ground(Pose),
    /// A plane of a given pose.
    Pose(Pose),
    /// The plane of a chessboard to find in the photo.
    Board { board: BoardSize, square: f64 },
}

/// The pose of the chessboard in the photo: its corners, then the board's pose.
fn board_plane(
    camera: &Camera,
    path: &Path,
    pic: &Picture,
    board: BoardSize,
    square: f64,
) -> Result<Pose> {
    ensure!(
        (pic.width, pic.height) == (camera.image_size[0], camera.image_size[1]),
        "{}: image is {}x{}, the camera was calibrated at {}x{}",
        path.display(),
        pic.width,
        pic.height,
        camera.image_size[0],
        camera.image_size[1]
    );
    let gray = classic_cv::Image::load(path)
        .with_context(|| format!("cannot read image {}", path.display()))?;
    let corners = find_chessboard_corners(&gray, board, &ChessboardParams::default())
        .with_context(|| format!("finding the chessboard in {}", path.display()))?
        .with_context(|| format!("{}: no {board} chessboard found", path.display()))?;
    warp::board_pose(camera, &corners, board, square)
        .with_context(|| format!("{}: the pose of the {board} chessboard", path.display()))
}

/// Parses `--plane`.
fn parse_plane(spec: &str) -> Result<Plane> {
    let bad = |why: &str| anyhow::anyhow!("--plane `{spec}`: {why}");
    if let Some(rest) = spec.strip_prefix("pose=") {
        let v = numbers(rest).map_err(|e| bad(&e))?;
        ensure!(
            v.len() == 6,
            bad("pose= takes six numbers RX,RY,RZ,TX,TY,TZ")
        );
        return Ok(Plane::Pose(Pose {
            rvec: [v[0], v[1], v[2]],
            t: [v[3], v[4], v[5]],
        }));
    }
    if spec.starts_with("board=") {
        let (mut board, mut square) = (None, None);
        for part in spec.split(',') {
            match part.split_once('=') {
                Some(("board", v)) => {
                    board = Some(BoardSize::parse(v).map_err(|e| bad(&e.to_string()))?)
                }
                Some(("square", v)) => {
                    let s: f64 = v
                        .trim()
                        .parse()
                        .map_err(|_| bad("square= takes a number"))?;
                    ensure!(s.is_finite() && s > 0.0, bad("square= must be positive"));
                    square = Some(s);
                }
                _ => return Err(bad("expected board=COLSxROWS,square=METRES")),
            }
        }
        return Ok(Plane::Board {
            board: board.ok_or_else(|| bad("board= is missing"))?,
            square: square.ok_or_else(|| bad("square= is missing (metres)"))?,
        });
    }
    let (mut height, mut pitch) = (None, None);
    for part in spec.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| bad("expected key=value pairs"))?;
        let v: f64 = v
            .trim()
            .parse()
            .map_err(|_| bad(&format!("`{v}` is not a number")))?;
        match k.trim() {
            "height" => height = Some(v),
            "pitch" => pitch = Some(v),
            other => {
                return Err(bad(&format!(
                    "unknown key `{other}` (height, pitch, pose= or board=)"
                )));
            }
        }
    }
    let height = height.ok_or_else(|| bad("height= is missing"))?;
    let pitch = pitch.ok_or_else(|| bad("pitch= is missing"))?;
    Ok(Plane::Ground(
        warp::ground_pose(height, pitch).map_err(|e| bad(&e.to_string()))?,
    ))
}

/// Parses `X0,Y0,X1,Y1`.
fn parse_area(text: &str) -> Result<[f64; 4]> {
    let v = numbers(text).map_err(|e| anyhow::anyhow!("--area `{text}`: {e}"))?;
    ensure!(v.len() == 4, "--area `{text}`: expected X0,Y0,X1,Y1");
    Ok([v[0], v[1], v[2], v[3]])
}

/// Comma-separated finite numbers.
fn numbers(text: &str) -> std::result::Result<Vec<f64>, String> {
    text.split(',')
        .map(|s| match s.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(format!("`{s}` is not a finite number")),
        })
        .collect()
}
