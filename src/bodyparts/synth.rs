//! Synthetic depth frames of an articulated body with per-pixel part labels and 3D joints.
//!
//! # Overview
//! [`render`] poses a body made of capsules (head, neck, torso, upper and lower arms,
//! hands, upper and lower legs, feet: [`N_PARTS`] parts, left and right distinct) with a
//! random pose within joint limits and random proportions, places it 1.5 to 4 m in front of
//! a pinhole depth camera with a random yaw, and ray-casts a [`Frame`]: depth in metres
//! (background = 0, "no reading"), part labels (0 = background, `1..=N_PARTS` the parts), and
//! the 3D positions (camera coordinates, metres) of the skeleton joints and part centres.
//! [`write_frame`] / [`read_frame`] store a frame as a 16-bit depth PNG in millimetres, an
//! 8-bit label PNG and a joints JSON. Shotton et al. trained on synthetic renderings of
//! motion-capture poses; this is a much simpler body, but the task (label every body pixel
//! of a single depth frame) is the same.
//!
//! # Usage
//! ```
//! use classic_cv::bodyparts::synth::{render, SynthParams, N_PARTS};
//! let f = render(&SynthParams::default(), 7).unwrap();
//! assert_eq!((f.width, f.height), (320, 240));
//! let body = f.labels.iter().filter(|&&l| l > 0).count();
//! assert!(body > 1000);
//! assert!(f.labels.iter().all(|&l| l as usize <= N_PARTS));
//! ```
//!
//! # Conventions
//! Camera coordinates: x right, y up, z forward (away from the camera); pixel `(col, row)`
//! sees direction `((col - cx) / f, -(row - cy) / f, 1)`, `cx = (w - 1) / 2`,
//! `cy = (h - 1) / 2`. Depth is the z coordinate (as a Kinect reports), not the ray length.
//! Body frame: pelvis at the origin, x to the body's left, y up, z out of the chest; yaw
//! 0 faces the camera, so the body's left appears on the image's right. Default focal length
//! 285 px at 320x240 (a Kinect v1's 570 px at 640x480).
//!
//! # Determinism
//! Frame `i` of the set of `seed` draws everything from `Rng::stream(seed, i)`
//! ([`render_indexed`]), so a set is the same whatever the thread count or order.
//!
//! # References
//! J. Shotton et al., "Real-time human pose recognition in parts from single depth images",
//! CVPR 2011 (section 2: the synthetic training data).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::Rng;

/// Number of body parts (labels `1..=N_PARTS`; 0 is background).
pub const N_PARTS: usize = 15;

/// Part names, indexed by `label - 1`.
pub const PART_NAMES: [&str; N_PARTS] = [
    "head",
    "neck",
    "torso",
    "left upper arm",
    "right upper arm",
    "left lower arm",
    "right lower arm",
    "left hand",
    "right hand",
    "left upper leg",
    "right upper leg",
    "left lower leg",
    "right lower leg",
    "left foot",
    "right foot",
];

/// Skeleton joint names, in the order of [`Frame::joints`].
pub const JOINT_NAMES: [&str; 15] = [
    "head",
    "neck",
    "pelvis",
    "left shoulder",
    "right shoulder",
    "left elbow",
    "right elbow",
    "left wrist",
    "right wrist",
    "left hip",
    "right hip",
    "left knee",
    "right knee",
    "left ankle",
    "right ankle",
];

/// Settings of the generator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthParams {
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Focal length in pixels.
    pub focal: f32,
    /// Closest and farthest distance of the pelvis from the camera, metres.
    pub distance: [f32; 2],
    /// Largest absolute yaw of the body, degrees (0 faces the camera).
    pub max_yaw_deg: f32,
    /// Standard deviation of the Gaussian depth noise, metres (0: none).
    pub noise: f32,
    /// Fraction of body pixels dropped (read as "no depth"), like sensor holes.
    pub missing: f32,
}

impl Default for SynthParams {
    fn default() -> Self {
        SynthParams {
            width: 320,
            height: 240,
            focal: 285.0,
            distance: [1.5, 4.0],
            max_yaw_deg: 60.0,
            noise: 0.0,
            missing: 0.0,
        }
    }
}

impl SynthParams {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.width < 16 || self.height < 16 || self.width > 4096 || self.height > 4096 {
            return Err(Error::param("width", "image size must be within 16..=4096"));
        }
        if !(self.focal > 0.0 && self.focal.is_finite()) {
            return Err(Error::param("focal", "must be positive"));
        }
        let [a, b] = self.distance;
        if !(a >= 0.5 && b >= a && b <= 20.0) {
            return Err(Error::param("distance", "needs 0.5 <= near <= far <= 20"));
        }
        if !(0.0..=180.0).contains(&self.max_yaw_deg) {
            return Err(Error::param("max_yaw_deg", "must be in [0, 180]"));
        }
        if !(0.0..=0.5).contains(&self.noise) {
            return Err(Error::param("noise", "must be in [0, 0.5] metres"));
        }
        if !(0.0..=0.9).contains(&self.missing) {
            return Err(Error::param("missing", "must be in [0, 0.9]"));
        }
        Ok(())
    }
}

/// One rendered frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Focal length in pixels.
    pub focal: f32,
    /// Depth in metres, row-major; 0 where there is no body (or a missing reading).
    pub depth: Vec<f32>,
    /// Part labels, row-major: 0 background, `1..=N_PARTS`.
    pub labels: Vec<u8>,
    /// Skeleton joints ([`JOINT_NAMES`]), camera coordinates in metres.
    pub joints: Vec<[f32; 3]>,
    /// Centre of each part's axis ([`PART_NAMES`]), camera coordinates in metres.
    pub part_centres: Vec<[f32; 3]>,
}

/// A capsule: segment `a`-`b` swept by a ball of radius `r`.
#[derive(Clone, Copy, Debug)]
struct Capsule {
    a: Vec3,
    b: Vec3,
    r: f32,
    part: u8,
}

type Vec3 = [f32; 3];

fn capsule(a: Vec3, b: Vec3, r: f32, part: u8) -> Capsule {
    Capsule { a, b, r, part }
}

fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn scale(a: Vec3, s: f32) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}
fn dot(a: Vec3, b: Vec3) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
fn norm(a: Vec3) -> Vec3 {
    let l = dot(a, a).sqrt();
    if l > 1e-9 { scale(a, 1.0 / l) } else { a }
}

/// Rotates `v` about the unit `axis` by `angle` radians (Rodrigues).
fn rotate(v: Vec3, axis: Vec3, angle: f32) -> Vec3 {
    let (s, c) = angle.sin_cos();
    add(
        add(scale(v, c), scale(cross(axis, v), s)),
        scale(axis, dot(axis, v) * (1.0 - c)),
    )
}

/// Unit limb direction from spherical angles: `abd` away from the body side (towards
/// `side` x), `flex` forward (towards +z). Zero angles point straight down.
fn limb_dir(side: f32, abd: f32, flex: f32) -> Vec3 {
    [
        side * abd.sin() * flex.cos(),
        -abd.cos() * flex.cos(),
        flex.sin(),
    ]
}

/// Bends `dir` by `angle` towards `towards` (a unit direction), about the axis normal to both.
fn bend(dir: Vec3, towards: Vec3, angle: f32) -> Vec3 {
    let axis = cross(dir, towards);
    if dot(axis, axis) < 1e-8 {
        return dir;
    }
    rotate(dir, norm(axis), angle)
}

/// Ray (origin 0, unit direction `d`) against a capsule: the ray parameter of the first hit.
fn hit_capsule(d: Vec3, c: &Capsule) -> Option<f32> {
    let ba = sub(c.b, c.a);
    let oa = scale(c.a, -1.0);
    let baba = dot(ba, ba);
    let bard = dot(ba, d);
    let baoa = dot(ba, oa);
    let rdoa = dot(d, oa);
    let oaoa = dot(oa, oa);
    let r2 = c.r * c.r;
    let a = baba - bard * bard;
    if baba > 1e-12 && a > 1e-12 {
        let b = baba * rdoa - baoa * bard;
        let cc = baba * oaoa - baoa * baoa - r2 * baba;
        let h = b * b - a * cc;
        if h < 0.0 {
            return None;
        }
        let t = (-b - h.sqrt()) / a;
        let y = baoa + t * bard;
        if y > 0.0 && y < baba && t > 0.0 {
            return Some(t);
        }
    }
    // The end spheres.
    let mut best: Option<f32> = None;
    for centre in [c.a, c.b] {
        let b = dot(d, centre);
        let h = b * b - (dot(centre, centre) - r2);
        if h > 0.0 {
            let t = b - h.sqrt();
            if t > 0.0 && best.is_none_or(|u| t < u) {
                best = Some(t);
            }
        }
    }
    best
}

/// The body in camera coordinates: capsules, joints and part centres.
fn pose_body(params: &SynthParams, rng: &mut Rng) -> (Vec<Capsule>, Vec<Vec3>, Vec<Vec3>) {
    let deg = std::f32::consts::PI / 180.0;
    let hs = rng.uniform(0.85, 1.12); // height scale
    let ws = rng.uniform(0.85, 1.2); // girth scale
    let u = |rng: &mut Rng, lo: f32, hi: f32| rng.uniform(lo * deg, hi * deg);

    // Body frame, pelvis at the origin.
    let lean = u(rng, -10.0, 25.0); // forward lean of the upper body about the pelvis
    let torso_up = rotate([0.0, 1.0, 0.0], [1.0, 0.0, 0.0], -lean);
    let upper = |p: Vec3| rotate(p, [1.0, 0.0, 0.0], -lean);
    let chest_h = 0.50 * hs;
    let neck_base = upper([0.0, chest_h + 0.04 * hs, 0.0]);
    let head_tilt = u(rng, -20.0, 20.0);
    let head_side = u(rng, -15.0, 15.0);
    let neck_dir = norm(add(
        torso_up,
        [head_side.sin() * 0.6, 0.0, head_tilt.sin() * 0.6],
    ));
    let neck_top = add(neck_base, scale(neck_dir, 0.09 * hs));
    let head_r = 0.105 * hs.sqrt();
    let head = add(neck_top, scale(neck_dir, head_r * 0.95));
    let mut caps = vec![
        capsule(head, add(head, scale(neck_dir, 0.03 * hs)), head_r, 1),
        capsule(neck_base, neck_top, 0.05 * ws, 2),
    ];
    for side in [-1.0f32, 1.0] {
        caps.push(capsule(
            upper([side * 0.07 * ws, 0.08 * hs, 0.0]),
            upper([side * 0.08 * ws, chest_h - 0.06 * hs, 0.0]),
            0.115 * ws,
            3,
        ));
    }
    let mut joints = vec![[0.0; 3]; JOINT_NAMES.len()];
    joints[0] = head;
    joints[1] = neck_base;
    joints[2] = [0.0, 0.0, 0.0];
    // Arms and legs: index 0 = left (+x), 1 = right (-x).
    for (k, side) in [(0usize, 1.0f32), (1, -1.0)] {
        let shoulder = upper([side * 0.19 * ws, chest_h - 0.03 * hs, 0.0]);
        let abd = u(rng, 5.0, 100.0);
        let flex = u(rng, -40.0, 120.0);
        let ua = limb_dir(side, abd, flex);
        let ua = upper(ua);
        let elbow = add(shoulder, scale(ua, 0.29 * hs));
        let fwd = upper([0.0, 0.0, 1.0]);
        let inward = [-side, 0.0, 0.0];
        let towards = norm(add(fwd, scale(inward, rng.uniform(-0.3, 0.8))));
        let la = bend(ua, towards, u(rng, 0.0, 140.0));
        let wrist = add(elbow, scale(la, 0.25 * hs));
        let hand_end = add(wrist, scale(la, 0.09 * hs));
        caps.push(capsule(shoulder, elbow, 0.047 * ws, 4 + k as u8));
        caps.push(capsule(elbow, wrist, 0.038 * ws, 6 + k as u8));
        caps.push(capsule(
            add(wrist, scale(la, 0.03 * hs)),
            hand_end,
            0.042 * ws,
            8 + k as u8,
        ));
        joints[3 + k] = shoulder;
        joints[5 + k] = elbow;
        joints[7 + k] = wrist;

        let hip = [side * 0.095 * ws, -0.02 * hs, 0.0];
        let habd = u(rng, -5.0, 35.0);
        let hflex = u(rng, -20.0, 80.0);
        let ul = limb_dir(side, habd, hflex);
        let knee = add(hip, scale(ul, 0.43 * hs));
        let ll = bend(
            ul,
            [0.0, 0.0, -1.0],
            u(rng, 0.0, 110.0).min(hflex + 60.0 * deg),
        );
        let ankle = add(knee, scale(ll, 0.42 * hs));
        let foot_dir = norm(add(
            bend(ll, [0.0, 0.0, 1.0], 90.0 * deg),
            [side * 0.2, 0.0, 0.0],
        ));
        caps.push(capsule(hip, knee, 0.078 * ws, 10 + k as u8));
        caps.push(capsule(knee, ankle, 0.055 * ws, 12 + k as u8));
        caps.push(capsule(
            add(ankle, scale(ll, 0.02)),
            add(ankle, scale(foot_dir, 0.17 * hs)),
            0.04 * ws,
            14 + k as u8,
        ));
        joints[9 + k] = hip;
        joints[11 + k] = knee;
        joints[13 + k] = ankle;
    }

    // Place in the camera frame: yaw about y, then the pelvis at (tx, ty, dist).
    let yaw = rng.uniform(-params.max_yaw_deg, params.max_yaw_deg) * deg;
    let dist = rng.uniform(params.distance[0], params.distance[1]);
    let cam_height = rng.uniform(0.7, 1.2);
    let pelvis_height = 0.92 * hs;
    let tx = rng.uniform(-0.25, 0.25) * dist / 2.0;
    let (s, c) = yaw.sin_cos();
    let place = |p: Vec3| -> Vec3 {
        let x = c * p[0] + s * p[2];
        let z = -s * p[0] + c * p[2];
        [x + tx, p[1] + pelvis_height - cam_height, dist - z]
    };
    for cap in &mut caps {
        cap.a = place(cap.a);
        cap.b = place(cap.b);
    }
    let joints: Vec<Vec3> = joints.into_iter().map(place).collect();
    let mut centres = vec![[0.0; 3]; N_PARTS];
    let mut count = [0f32; N_PARTS];
    for cap in &caps {
        let p = cap.part as usize - 1;
        centres[p] = add(centres[p], scale(add(cap.a, cap.b), 0.5));
        count[p] += 1.0;
    }
    for (c, n) in centres.iter_mut().zip(count) {
        *c = scale(*c, 1.0 / n);
    }
    (caps, joints, centres)
}

/// Renders frame number `index` of the set generated from `seed`.
pub fn render(params: &SynthParams, seed: u64) -> Result<Frame> {
    render_indexed(params, seed, 0)
}

/// Renders frame `index` of the set of `seed` (from `Rng::stream(seed, index)`).
pub fn render_indexed(params: &SynthParams, seed: u64, index: u64) -> Result<Frame> {
    params.validate()?;
    let mut rng = Rng::stream(seed, index);
    let (caps, joints, part_centres) = pose_body(params, &mut rng);
    let (w, h, f) = (params.width, params.height, params.focal);
    let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
    let mut depth = vec![f32::INFINITY; w * h];
    let mut labels = vec![0u8; w * h];
    for cap in &caps {
        // Image bounding box of the capsule's axis-aligned box.
        let (mut c0, mut c1, mut r0, mut r1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        let mut behind = false;
        for &ex in &[
            cap.a[0] - cap.r,
            cap.a[0] + cap.r,
            cap.b[0] - cap.r,
            cap.b[0] + cap.r,
        ] {
            for &ey in &[
                cap.a[1] - cap.r,
                cap.a[1] + cap.r,
                cap.b[1] - cap.r,
                cap.b[1] + cap.r,
            ] {
                for &ez in &[cap.a[2] - cap.r, cap.b[2] - cap.r] {
                    if ez < 0.05 {
                        behind = true;
                        continue;
                    }
                    let col = cx + f * ex / ez;
                    let row = cy - f * ey / ez;
                    c0 = c0.min(col);
                    c1 = c1.max(col);
                    r0 = r0.min(row);
                    r1 = r1.max(row);
                }
            }
        }
        if behind {
            continue;
        }
        let cs = (c0.floor().max(0.0)) as usize;
        let ce = (c1.ceil().min(w as f32 - 1.0)).max(-1.0) as i64;
        let rs = (r0.floor().max(0.0)) as usize;
        let re = (r1.ceil().min(h as f32 - 1.0)).max(-1.0) as i64;
        for row in rs as i64..=re {
            for col in cs as i64..=ce {
                let d = norm([(col as f32 - cx) / f, -(row as f32 - cy) / f, 1.0]);
                if let Some(t) = hit_capsule(d, cap) {
                    let z = t * d[2];
                    let i = row as usize * w + col as usize;
                    if z < depth[i] {
                        depth[i] = z;
                        labels[i] = cap.part;
                    }
                }
            }
        }
    }
    for (i, z) in depth.iter_mut().enumerate() {
        if labels[i] == 0 {
            *z = 0.0;
            continue;
        }
        if params.noise > 0.0 {
            *z += params.noise * rng.normal();
        }
        if params.missing > 0.0 && rng.next_f32() < params.missing {
            *z = 0.0;
        }
    }
    Ok(Frame {
        width: w,
        height: h,
        focal: f,
        depth,
        labels,
        joints,
        part_centres,
    })
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JointsFile {
    focal: f32,
    joint_names: Vec<String>,
    joints: Vec<[f32; 3]>,
    part_names: Vec<String>,
    part_centres: Vec<[f32; 3]>,
}

/// File stem of frame `i` in a set directory.
pub fn frame_stem(i: usize) -> String {
    format!("{i:05}")
}

/// Writes `frame` as `DIR/STEM_depth.png` (16-bit, millimetres, 0 = no reading),
/// `DIR/STEM_labels.png` (8-bit part labels) and `DIR/STEM_joints.json`, each atomically
/// (temp file, then rename).
pub fn write_frame(dir: &Path, stem: &str, frame: &Frame) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mm: Vec<u16> = frame
        .depth
        .iter()
        .map(|&z| {
            if z.is_finite() && z > 0.0 {
                (z * 1000.0).round().clamp(1.0, 65535.0) as u16
            } else {
                0
            }
        })
        .collect();
    let (w, h) = (frame.width as u32, frame.height as u32);
    let depth_img = ::image::ImageBuffer::<::image::Luma<u16>, _>::from_raw(w, h, mm)
        .expect("buffer matches the size");
    crate::image::write_png(&dir.join(format!("{stem}_depth.png")), |w| {
        depth_img.write_to(w, ::image::ImageFormat::Png)
    })?;
    let label_img =
        ::image::GrayImage::from_raw(w, h, frame.labels.clone()).expect("buffer matches the size");
    crate::image::write_png(&dir.join(format!("{stem}_labels.png")), |w| {
        label_img.write_to(w, ::image::ImageFormat::Png)
    })?;
    let joints = JointsFile {
        focal: frame.focal,
        joint_names: JOINT_NAMES.iter().map(|s| s.to_string()).collect(),
        joints: frame.joints.clone(),
        part_names: PART_NAMES.iter().map(|s| s.to_string()).collect(),
        part_centres: frame.part_centres.clone(),
    };
    let path = dir.join(format!("{stem}_joints.json"));
    let text =
        serde_json::to_vec_pretty(&joints).map_err(|e| Error::format(&path, e.to_string()))?;
    crate::persist::write_atomic(&path, &text)
}

/// Reads a 16-bit single-channel depth PNG in millimetres as metres; 0 stays 0 (no reading).
/// Any other pixel format, or a frame smaller than [`MIN_DEPTH_SIDE`] on a side, is an error.
pub fn read_depth_png(path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let img = crate::image::open_checked(path)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let ::image::DynamicImage::ImageLuma16(mm) = img else {
        return Err(Error::Image {
            path: path.to_path_buf(),
            reason: format!(
                "a depth frame must be a 16-bit single-channel PNG (millimetres), this one is {:?}",
                img.color()
            ),
        });
    };
    if w < MIN_DEPTH_SIDE || h < MIN_DEPTH_SIDE {
        return Err(Error::Image {
            path: path.to_path_buf(),
            reason: format!(
                "a depth frame of {w}x{h} is too small (at least {MIN_DEPTH_SIDE}x{MIN_DEPTH_SIDE})"
            ),
        });
    }
    Ok((
        w,
        h,
        mm.into_raw().iter().map(|&v| v as f32 / 1000.0).collect(),
    ))
}

/// Smallest side of a depth frame [`read_depth_png`] accepts.
pub const MIN_DEPTH_SIDE: usize = 8;

/// Reads an 8-bit label PNG; fails if it is not `width x height` or holds a label above
/// [`N_PARTS`].
pub fn read_labels_png(path: &Path, width: usize, height: usize) -> Result<Vec<u8>> {
    let img = crate::image::open_checked(path)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if (w, h) != (width, height) {
        return Err(Error::format(
            path,
            format!("label image is {w}x{h} but its depth frame is {width}x{height}"),
        ));
    }
    let labels = img.into_luma8().into_raw();
    if let Some(&bad) = labels.iter().find(|&&l| l as usize > N_PARTS) {
        return Err(Error::format(
            path,
            format!("label {bad} is not a body part (0..={N_PARTS})"),
        ));
    }
    Ok(labels)
}

/// Reads a frame written by [`write_frame`] (the joints JSON is optional).
pub fn read_frame(dir: &Path, stem: &str) -> Result<Frame> {
    let (w, h, depth) = read_depth_png(&dir.join(format!("{stem}_depth.png")))?;
    let labels = read_labels_png(&dir.join(format!("{stem}_labels.png")), w, h)?;
    let jpath = dir.join(format!("{stem}_joints.json"));
    let (focal, joints, part_centres) = match std::fs::read(&jpath) {
        Ok(bytes) => {
            let j: JointsFile =
                serde_json::from_slice(&bytes).map_err(|e| Error::format(&jpath, e.to_string()))?;
            (j.focal, j.joints, j.part_centres)
        }
        Err(_) => (285.0 * w as f32 / 320.0, Vec::new(), Vec::new()),
    };
    Ok(Frame {
        width: w,
        height: h,
        focal,
        depth,
        labels,
        joints,
        part_centres,
    })
}

/// Stems of the frames in `dir` (files `*_depth.png`), sorted.
pub fn list_frames(dir: &Path) -> Result<Vec<String>> {
    let mut stems: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix("_depth.png"))
                .map(str::to_string)
        })
        .collect();
    stems.sort();
    if stems.is_empty() {
        return Err(Error::EmptyInput {
            what: "depth frames (*_depth.png) in the directory",
        });
    }
    Ok(stems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ray_hits_capsule_at_the_analytic_depth() {
        // Capsule along x at z = 2, radius 0.1: the central ray hits at z = 1.9.
        let c = capsule([-0.5, 0.0, 2.0], [0.5, 0.0, 2.0], 0.1, 1);
        let t = hit_capsule([0.0, 0.0, 1.0], &c).unwrap();
        assert!((t - 1.9).abs() < 1e-5);
        // Past the end sphere: a ray towards x = 0.55 hits the cap.
        let d = norm([0.55 / 2.0, 0.0, 1.0]);
        assert!(hit_capsule(d, &c).is_some());
        assert!(hit_capsule(norm([0.7 / 2.0, 0.0, 1.0]), &c).is_none());
        // A sphere (a == b).
        let s = capsule([0.0, 0.0, 3.0], [0.0, 0.0, 3.0], 0.5, 1);
        assert!((hit_capsule([0.0, 0.0, 1.0], &s).unwrap() - 2.5).abs() < 1e-5);
    }

    #[test]
    fn frames_are_deterministic_and_plausible() {
        let p = SynthParams::default();
        let a = render_indexed(&p, 3, 5).unwrap();
        assert_eq!(a, render_indexed(&p, 3, 5).unwrap());
        assert_ne!(a.labels, render_indexed(&p, 3, 6).unwrap().labels);
        let mut seen = [false; N_PARTS + 1];
        for i in 0..20 {
            let f = render_indexed(&p, 1, i).unwrap();
            for (&l, &z) in f.labels.iter().zip(&f.depth) {
                seen[l as usize] = true;
                if l > 0 {
                    assert!((0.9..5.0).contains(&z), "{z}");
                } else {
                    assert_eq!(z, 0.0);
                }
            }
            // The pelvis lies within the distance range.
            assert!((1.5..=4.0).contains(&f.joints[2][2]));
        }
        assert!(seen.iter().all(|&s| s), "{seen:?}");
    }

    /// At yaw 0 the body's left (labels of the left parts) lies right of the right parts.
    #[test]
    fn left_parts_appear_on_the_image_right_when_facing_the_camera() {
        let p = SynthParams {
            max_yaw_deg: 0.0,
            ..SynthParams::default()
        };
        for i in 0..5 {
            let f = render_indexed(&p, 9, i).unwrap();
            let mean_col = |part: u8| {
                let cols: Vec<f32> = (0..f.labels.len())
                    .filter(|&k| f.labels[k] == part)
                    .map(|k| (k % f.width) as f32)
                    .collect();
                cols.iter().sum::<f32>() / cols.len().max(1) as f32
            };
            assert!(
                mean_col(10) > mean_col(11),
                "left upper leg right of right one"
            );
        }
    }

    #[test]
    fn write_read_round_trip_and_size_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let f = render_indexed(&SynthParams::default(), 2, 0).unwrap();
        write_frame(dir.path(), "00000", &f).unwrap();
        let g = read_frame(dir.path(), "00000").unwrap();
        assert_eq!(g.labels, f.labels);
        assert_eq!(g.joints, f.joints);
        for (a, b) in f.depth.iter().zip(&g.depth) {
            assert!((a - b).abs() <= 0.0005 + 1e-6);
        }
        // A label image of another size is a clear error.
        let small = ::image::GrayImage::new(10, 10);
        small.save(dir.path().join("00000_labels.png")).unwrap();
        assert!(matches!(
            read_frame(dir.path(), "00000"),
            Err(Error::Format { .. })
        ));
    }
}
