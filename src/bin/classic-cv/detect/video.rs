//! Video in and out through `ffmpeg` child processes (`detect --video`, `--camera`,
//! `--draw-video`).
//!
//! Input: `ffmpeg -i SOURCE -map 0:v:0 -fps_mode passthrough -f rawvideo -pix_fmt gray -`,
//! every decoded frame once (no duplicated or dropped frames), converted to 8-bit gray by
//! ffmpeg's swscale. The frame size and rate are read from ffmpeg's own description of the
//! output stream on stderr, so no `ffprobe` is needed. Cameras: V4L2 on Linux
//! (`/dev/video0`), AVFoundation on macOS (a device index such as `0`), DirectShow on Windows
//! (a device name).
//!
//! Output: the annotated frames as RGB24 into a second `ffmpeg`, which encodes to the
//! container and codec of the output name's extension (H.264 for `.mp4`), `yuv420p`. It writes
//! a temporary file next to the output that is renamed over it only when the stream ended
//! cleanly.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use classic_cv::detect::Detection;
use classic_cv::draw::Canvas;
use classic_cv::image::Image;

/// Lines of ffmpeg's stderr kept for error messages.
const TAIL_LINES: usize = 12;

/// Gray frames decoded by an `ffmpeg` child.
pub struct VideoInput {
    child: Child,
    /// The raw gray frames.
    pub frames: ChildStdout,
    /// Frame width.
    pub width: usize,
    /// Frame height.
    pub height: usize,
    /// Frames per second, as ffmpeg reports the stream (25 when it does not).
    pub fps: f64,
    tail: Arc<Mutex<VecDeque<String>>>,
    reader: Option<JoinHandle<()>>,
    source: String,
}

/// Starts `program` with `args`, naming the program when it cannot be run.
fn spawn(program: &str, args: &[String], stdin: Stdio) -> Result<Child> {
    Command::new(program)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!(
                    "`{program}` was not found on PATH: video input and output need ffmpeg \
                     (e.g. `apt-get install ffmpeg`, `brew install ffmpeg`)"
                )
            } else {
                anyhow::anyhow!("cannot run `{program}`: {e}")
            }
        })
}

/// The `-f FORMAT -i DEVICE` arguments of a camera on this system.
fn camera_input(device: &str) -> Vec<String> {
    let (format, input) = if cfg!(target_os = "macos") {
        ("avfoundation", format!("{device}:none"))
    } else if cfg!(windows) {
        ("dshow", format!("video={device}"))
    } else {
        ("v4l2", device.to_string())
    };
    vec!["-f".into(), format.into(), "-i".into(), input]
}

impl VideoInput {
    /// Decodes a video file.
    pub fn open_file(path: &Path) -> Result<VideoInput> {
        if !path.is_file() {
            bail!("{}: no such video file", path.display());
        }
        let input = vec!["-i".into(), path.display().to_string()];
        VideoInput::open(input, path.display().to_string())
    }

    /// Reads a camera (`/dev/video0` on Linux, an index on macOS, a name on Windows).
    pub fn open_camera(device: &str) -> Result<VideoInput> {
        VideoInput::open(camera_input(device), format!("camera {device}"))
    }

    fn open(input: Vec<String>, source: String) -> Result<VideoInput> {
        let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]
            .map(String::from)
            .to_vec();
        args.extend(input);
        args.extend(
            [
                "-map",
                "0:v:0",
                "-fps_mode",
                "passthrough",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "gray",
                "-",
            ]
            .map(String::from),
        );
        let mut child = spawn("ffmpeg", &args, Stdio::null())?;
        let stderr = child.stderr.take().context("ffmpeg's stderr")?;
        let frames = child.stdout.take().context("ffmpeg's stdout")?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel();
        let reader = {
            let tail = Arc::clone(&tail);
            std::thread::spawn(move || read_stderr(stderr, &tail, tx))
        };
        let mut this = VideoInput {
            child,
            frames,
            width: 0,
            height: 0,
            fps: 25.0,
            tail,
            reader: Some(reader),
            source,
        };
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok((w, h, fps)) => {
                (this.width, this.height) = (w, h);
                if let Some(f) = fps {
                    this.fps = f;
                }
                Ok(this)
            }
            Err(_) => {
                let _ = this.child.kill();
                let _ = this.child.wait();
                if let Some(r) = this.reader.take() {
                    let _ = r.join();
                }
                bail!(
                    "{}: ffmpeg gave no video stream ({})",
                    this.source,
                    this.stderr_tail()
                )
            }
        }
    }

    /// The last lines ffmpeg wrote on stderr, joined.
    fn stderr_tail(&self) -> String {
        let t = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        let v: Vec<&str> = t
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if v.is_empty() {
            "no message".into()
        } else {
            v.join(" | ")
        }
    }

    /// Waits for ffmpeg to exit; fails if it failed.
    pub fn finish(mut self) -> Result<()> {
        let status = self.child.wait()?;
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        if !status.success() {
            bail!(
                "{}: ffmpeg failed ({status}): {}",
                self.source,
                self.stderr_tail()
            );
        }
        Ok(())
    }
}

impl Drop for VideoInput {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Drains ffmpeg's stderr: sends the output stream's size and rate once, keeps the tail.
fn read_stderr(
    stderr: impl Read,
    tail: &Mutex<VecDeque<String>>,
    found: mpsc::Sender<(usize, usize, Option<f64>)>,
) {
    let mut in_output = false;
    let mut sent = false;
    for line in BufReader::new(stderr).split(b'\n') {
        let Ok(line) = line else { break };
        let line = String::from_utf8_lossy(&line).into_owned();
        if line.starts_with("Output #0") {
            in_output = true;
        }
        if in_output
            && !sent
            && line.contains("Stream #")
            && let Some((w, h, fps)) = parse_stream_line(&line)
        {
            sent = true;
            let _ = found.send((w, h, fps));
        }
        let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
        if t.len() == TAIL_LINES {
            t.pop_front();
        }
        t.push_back(line);
    }
}

/// `(width, height, fps)` of a line such as
/// `Stream #0:0: Video: rawvideo (Y800 / 0x30303859), gray, 720x528 [SAR 1:1], 23.98 fps, ...`.
fn parse_stream_line(line: &str) -> Option<(usize, usize, Option<f64>)> {
    let video = &line[line.find("Video:")? + 6..];
    let mut size = None;
    let mut fps = None;
    for part in video.split(", ") {
        let mut words = part.split_whitespace();
        let first = words.next().unwrap_or("");
        if size.is_none()
            && let Some((w, h)) = first.split_once('x')
            && let (Ok(w), Ok(h)) = (w.parse::<usize>(), h.parse::<usize>())
            && w > 0
            && h > 0
        {
            size = Some((w, h));
        }
        if words.next() == Some("fps") {
            fps = first
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && *f > 0.0);
        }
    }
    size.map(|(w, h)| (w, h, fps))
}

/// Annotated frames encoded by an `ffmpeg` child into a temporary file, renamed over the
/// output by [`VideoOutput::finish`].
pub struct VideoOutput {
    child: Child,
    stdin: Option<ChildStdin>,
    width: usize,
    height: usize,
    temp: PathBuf,
    path: PathBuf,
    rgb: Vec<u8>,
}

impl VideoOutput {
    /// Starts the encoder for `width x height` frames at `fps`.
    pub fn create(path: &Path, width: usize, height: usize, fps: f64) -> Result<VideoOutput> {
        let name = path.file_name().context("--draw-video needs a file name")?;
        let ext = path.extension().map(|e| e.to_string_lossy().into_owned());
        let Some(ext) = ext else {
            bail!(
                "{}: give the output an extension (e.g. .mp4)",
                path.display()
            );
        };
        let temp = path.with_file_name(format!(
            ".{}.{}.tmp.{ext}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let args: Vec<String> = vec![
            "-hide_banner".into(),
            "-nostats".into(),
            "-loglevel".into(),
            "error".into(),
            "-y".into(),
            "-f".into(),
            "rawvideo".into(),
            "-pix_fmt".into(),
            "rgb24".into(),
            "-s".into(),
            format!("{width}x{height}"),
            "-r".into(),
            format!("{fps}"),
            "-i".into(),
            "-".into(),
            "-pix_fmt".into(),
            "yuv420p".into(),
            temp.display().to_string(),
        ];
        let mut child = spawn("ffmpeg", &args, Stdio::piped())?;
        let stdin = child.stdin.take();
        Ok(VideoOutput {
            child,
            stdin,
            width,
            height,
            temp,
            path: path.to_path_buf(),
            rgb: Vec::with_capacity(width * height * 3),
        })
    }

    /// Draws the boxes on one gray frame and sends it to the encoder.
    pub fn write(&mut self, frame: &[u8], found: &[Detection]) -> Result<()> {
        let img = Image::from_u8(self.width, self.height, frame)?;
        let mut canvas = Canvas::from_gray(&img);
        for d in found {
            canvas.draw_rect(d.rect, [0, 255, 0], 2);
        }
        self.rgb.clear();
        for y in 0..self.height {
            for x in 0..self.width {
                self.rgb.extend_from_slice(&canvas.pixel(x, y));
            }
        }
        let stdin = self.stdin.as_mut().context("the encoder is closed")?;
        if stdin.write_all(&self.rgb).is_err() {
            let msg = self.stop();
            bail!("ffmpeg stopped encoding {}: {msg}", self.path.display());
        }
        Ok(())
    }

    /// Closes the stream, waits for the encoder and renames its file over the output.
    pub fn finish(mut self) -> Result<()> {
        drop(self.stdin.take());
        let out = self.child.wait_with_output_keep()?;
        if !out.0.success() {
            let _ = std::fs::remove_file(&self.temp);
            bail!(
                "ffmpeg failed to encode {}: {}",
                self.path.display(),
                out.1.trim()
            );
        }
        std::fs::rename(&self.temp, &self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(())
    }

    /// Stops the encoder and returns its error text.
    fn stop(&mut self) -> String {
        drop(self.stdin.take());
        let msg = self
            .child
            .wait_with_output_keep()
            .map(|o| o.1)
            .unwrap_or_default();
        let _ = std::fs::remove_file(&self.temp);
        msg.trim().to_string()
    }
}

impl Drop for VideoOutput {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// Waiting on a child whose stdout/stderr are pipes, without giving the child away.
trait WaitKeep {
    fn wait_with_output_keep(&mut self) -> Result<(std::process::ExitStatus, String)>;
}

impl WaitKeep for Child {
    fn wait_with_output_keep(&mut self) -> Result<(std::process::ExitStatus, String)> {
        let mut err = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        Ok((self.wait()?, err))
    }
}

/// `detect --video FILE` / `--camera DEVICE` (with `--draw-video OUT`).
pub fn run(
    det: &classic_cv::detect::Detector,
    params: classic_cv::detect::DetectParams,
    args: &super::DetectArgs,
    out: &mut dyn Write,
) -> Result<()> {
    if let (Some(v), Some(o)) = (&args.video, &args.draw_video)
        && (v == o || (o.exists() && v.canonicalize().ok() == o.canonicalize().ok()))
    {
        bail!(
            "--draw-video {} is the input video; give another file",
            o.display()
        );
    }
    let mut input = match (&args.video, &args.camera) {
        (Some(path), _) => VideoInput::open_file(path)?,
        (None, Some(device)) => VideoInput::open_camera(device)?,
        (None, None) => bail!("give --video FILE or --camera DEVICE"),
    };
    let (width, height) = (input.width, input.height);
    let mut writer = match &args.draw_video {
        Some(p) => Some(VideoOutput::create(p, width, height, input.fps)?),
        None => None,
    };
    let source = super::FrameSource {
        input: &mut input.frames,
        width,
        height,
        key: "frame",
        video: writer.as_mut(),
    };
    super::raw_stream(det, params, args, source, out)?;
    input.finish()?;
    if let Some(w) = writer {
        w.finish()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ffmpeg_stream_lines() {
        let l = "  Stream #0:0: Video: rawvideo (Y800 / 0x30303859), gray(pc, progressive), \
                 720x528 [SAR 1:1 DAR 15:11], q=2-31, 72917 kb/s, 23.98 fps, 23.98 tbn";
        assert_eq!(parse_stream_line(l), Some((720, 528, Some(23.98))));
        let l = "  Stream #0:0: Video: rawvideo (Y800 / 0x30303859), gray, 640x480, q=2-31";
        assert_eq!(parse_stream_line(l), Some((640, 480, None)));
        assert_eq!(
            parse_stream_line("  Stream #0:1: Audio: ac3, 48000 Hz"),
            None
        );
    }
}
