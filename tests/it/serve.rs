//! `classic-cv serve`: `/detect` against `classic-cv detect` on the sample photos, the
//! WebSocket frame stream, the metrics, and hostile requests (each answered with a 4xx and a
//! message, the server answering normally afterwards).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use classic_cv::image::Image;
use serde_json::Value;

use crate::locate::{cache, root};

/// A `classic-cv serve` child on a free loopback port, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(cascade: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_classic-cv"))
            .args(["serve", "--addr", "127.0.0.1:0", "--cascade"])
            .arg(cascade)
            .current_dir(root())
            .env("CLASSIC_CV_DATA", cache())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|s| {
                s.trim_end_matches(|c| c != '/')
                    .trim_end_matches('/')
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no address in `{first}`"));
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Server { child, addr }
    }

    /// One HTTP/1.1 request; `(status, body)`.
    fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        read_response(&mut s)
    }

    fn json(&self, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let (status, text) = self.request(method, path, body);
        let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
        (status, v)
    }

    fn healthy(&self) {
        let (status, v) = self.json("GET", "/health", b"");
        assert_eq!((status, v["status"].as_str()), (200, Some("ok")));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in `{text}`"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

fn haar_default() -> PathBuf {
    cache().join("opencv/haarcascades/haarcascade_frontalface_default.xml")
}

fn photos() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(cache().join("faces"))
        .expect("data/cache/faces is missing: run `classic-cv fetch-data`")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    v.sort();
    v.push(cache().join("skimage/astronaut.png"));
    assert!(v.len() >= 2, "no sample photos in data/cache/faces");
    v
}

/// The boxes `classic-cv detect` gives for one image.
fn cli_boxes(cascade: &Path, image: &Path, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_classic-cv"))
        .args(["detect", "--cascade"])
        .arg(cascade)
        .args(extra)
        .arg(image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    line["boxes"].clone()
}

#[test]
fn post_detect_equals_the_cli_on_the_sample_photos() {
    let server = Server::start(&haar_default());
    let ours = root().join("data/models/face-cascade.xml");
    for photo in photos() {
        let bytes = std::fs::read(&photo).unwrap();
        let img = Image::load(&photo).unwrap();
        let (status, v) = server.json("POST", "/detect", &bytes);
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            v["boxes"],
            cli_boxes(&haar_default(), &photo, &[]),
            "{}",
            photo.display()
        );
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64()),
            (Some(img.width() as u64), Some(img.height() as u64))
        );
        assert!(v["ms"].as_f64().unwrap() >= 0.0);
        // Another listed cascade and other options, by query.
        let q = "/detect?cascade=face-cascade.xml&scale_factor=1.2&min_neighbors=2&min_size=30";
        let (status, v) = server.json("POST", q, &bytes);
        assert_eq!(status, 200, "{v}");
        let extra = [
            "--scale-factor",
            "1.2",
            "--min-neighbors",
            "2",
            "--min-size",
            "30",
        ];
        assert_eq!(
            v["boxes"],
            cli_boxes(&ours, &photo, &extra),
            "{}",
            photo.display()
        );
        // The same pixels as raw gray.
        let path = format!("/detect?size={}x{}", img.width(), img.height());
        let (status, raw) = server.json("POST", &path, &img.to_u8());
        assert_eq!(status, 200, "{raw}");
        assert_eq!(raw["boxes"], cli_boxes(&haar_default(), &photo, &[]));
    }
    let (status, v) = server.json("GET", "/metrics", b"");
    assert_eq!(status, 200);
    assert_eq!(
        v["requests"].as_u64(),
        Some(3 * photos().len() as u64),
        "{v}"
    );
    assert_eq!(v["frames"].as_u64(), Some(0));
    assert!(v["latency_ms"]["p99"].as_f64().unwrap() >= v["latency_ms"]["p50"].as_f64().unwrap());
    let (status, v) = server.json("GET", "/cascades", b"");
    assert_eq!(status, 200);
    let names: Vec<&str> = v["cascades"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert!(
        names.contains(&"face-cascade.xml") && names.contains(&"haarcascade_frontalface_alt.xml"),
        "{v}"
    );
    assert_eq!(v["default"], "haarcascade_frontalface_default.xml");
    let (status, page) = server.request("GET", "/", b"");
    assert_eq!(status, 200);
    assert!(page.contains("<pre id=\"status\">") && page.contains("/page.js"));
}

/// A PNG signature and IHDR chunk claiming `w x h` 8-bit gray, then a truncated IDAT.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    v.extend(13u32.to_be_bytes());
    v.extend(&ihdr);
    v.extend(crc32(&ihdr).to_be_bytes());
    v.extend(1000u32.to_be_bytes());
    v.extend(b"IDAT\x78\x9c");
    v
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn assert_error(server: &Server, method: &str, path: &str, body: &[u8], status: u16, words: &str) {
    let (got, text) = server.request(method, path, body);
    assert_eq!(got, status, "{path}: {text}");
    assert!(text.contains(words), "{path}: `{text}` lacks `{words}`");
    server.healthy();
}

#[test]
fn hostile_requests_get_a_4xx_and_the_server_keeps_answering() {
    let server = Server::start(&haar_default());
    server.healthy();
    assert_error(&server, "POST", "/detect", b"", 400, "empty body");
    assert_error(
        &server,
        "POST",
        "/detect",
        b"hello, not an image",
        400,
        "not a PNG",
    );
    let mut png = std::fs::read(cache().join("skimage/astronaut.png")).unwrap();
    png.truncate(png.len() / 3);
    assert_error(
        &server,
        "POST",
        "/detect",
        &png,
        400,
        "unexpected end of file",
    );
    assert_error(
        &server,
        "POST",
        "/detect",
        b"\x89PNG\r\n\x1a\n garbage",
        400,
        "header",
    );
    assert_error(
        &server,
        "POST",
        "/detect",
        &png_header(20000, 20000),
        413,
        "over the limit",
    );
    assert_error(
        &server,
        "POST",
        "/detect?size=20000x20000",
        b"x",
        413,
        "the limit of",
    );
    assert_error(
        &server,
        "POST",
        "/detect?size=64x64",
        &[0u8; 100],
        400,
        "4096 bytes",
    );
    assert_error(
        &server,
        "POST",
        "/detect?size=64",
        &[0u8; 64],
        400,
        "WIDTHxHEIGHT",
    );
    assert_error(
        &server,
        "POST",
        "/detect?scale_factor=abc",
        b"x",
        400,
        "scale_factor",
    );
    assert_error(
        &server,
        "POST",
        "/detect?scale_factor=1.0001",
        &png_header(8, 8),
        400,
        "scale_factor",
    );
    assert_error(
        &server,
        "POST",
        "/detect?cascade=../../etc/passwd",
        &png_header(8, 8),
        400,
        "unknown cascade",
    );
    assert_error(&server, "POST", "/detect?bogus=1", b"x", 400, "bogus");
    assert_error(&server, "GET", "/nowhere", b"", 404, "no such route");

    // A 100 MB body: refused with 413 once past the 32 MiB limit, without reading it all.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let size = 100usize << 20;
    write!(
        s,
        "POST /detect HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {size}\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![0u8; 1 << 16];
    let mut sent = 0;
    while sent < size && s.write_all(&chunk).is_ok() {
        sent += chunk.len();
    }
    let (status, text) = read_response(&mut s);
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("length limit"), "{text}");
    server.healthy();

    // A socket closed in the middle of an upload.
    let mut s = TcpStream::connect(server.addr).unwrap();
    write!(
        s,
        "POST /detect HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
    )
    .unwrap();
    s.write_all(&png[..1000]).unwrap();
    drop(s);
    server.healthy();
    let (_, v) = server.json("GET", "/metrics", b"");
    assert_eq!(v["requests"].as_u64(), Some(0), "{v}");
}

type Socket = tungstenite::WebSocket<TcpStream>;

fn ws_connect(server: &Server) -> Socket {
    let tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let url = format!("ws://{}/ws", server.addr);
    tungstenite::client::client(url.as_str(), tcp).unwrap().0
}

fn frame(id: u32, w: u32, h: u32, px: &[u8]) -> tungstenite::Message {
    let mut m = Vec::with_capacity(12 + px.len());
    for v in [id, w, h] {
        m.extend(v.to_le_bytes());
    }
    m.extend(px);
    tungstenite::Message::Binary(m.into())
}

fn ws_reply(ws: &mut Socket) -> Value {
    loop {
        match ws.read().unwrap() {
            tungstenite::Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            tungstenite::Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
}

#[test]
fn websocket_frames_are_answered_and_bad_frames_get_errors() {
    let server = Server::start(&haar_default());
    let photo = cache().join("skimage/astronaut.png");
    let img = Image::load(&photo).unwrap();
    let (w, h) = (img.width() as u32, img.height() as u32);
    let px = img.to_u8();
    let want = cli_boxes(&haar_default(), &photo, &[]);
    let mut ws = ws_connect(&server);

    ws.send(frame(1, 640, 480, &px[..1000])).unwrap();
    let v = ws_reply(&mut ws);
    assert_eq!(v["status"], 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("307200 bytes"), "{v}");
    ws.send(frame(2, 100_000, 100_000, &[])).unwrap();
    let v = ws_reply(&mut ws);
    assert_eq!(v["status"], 413, "{v}");
    ws.send(tungstenite::Message::Binary(vec![1, 2, 3].into()))
        .unwrap();
    assert_eq!(ws_reply(&mut ws)["status"], 400);
    ws.send(tungstenite::Message::Text("{\"scale_factor\": 0.5}".into()))
        .unwrap();
    let v = ws_reply(&mut ws);
    assert!(v["error"].as_str().unwrap().contains("scale_factor"), "{v}");
    ws.send(tungstenite::Message::Text("not json".into()))
        .unwrap();
    assert_eq!(ws_reply(&mut ws)["status"], 400);
    server.healthy();

    // The same connection still works.
    ws.send(frame(7, w, h, &px)).unwrap();
    let v = ws_reply(&mut ws);
    assert_eq!(v["frame"], 7, "{v}");
    assert_eq!(v["boxes"], want);
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(w as u64), Some(h as u64))
    );

    // Options by text message, then a frame with them.
    ws.send(tungstenite::Message::Text(
        "{\"cascade\": \"face-cascade.xml\", \"min_neighbors\": 2}".into(),
    ))
    .unwrap();
    let v = ws_reply(&mut ws);
    assert_eq!(v["config"]["cascade"], "face-cascade.xml", "{v}");
    ws.send(frame(8, w, h, &px)).unwrap();
    let v = ws_reply(&mut ws);
    let ours = root().join("data/models/face-cascade.xml");
    assert_eq!(
        v["boxes"],
        cli_boxes(&ours, &photo, &["--min-neighbors", "2"]),
        "{v}"
    );

    // A burst: every frame is either answered or dropped as stale, and the newest is answered.
    let burst = 6u32;
    for id in 100..100 + burst {
        ws.send(frame(id, w, h, &px)).unwrap();
    }
    let mut answered = Vec::new();
    let mut dropped = 0;
    while answered.last() != Some(&(100 + burst - 1)) {
        let v = ws_reply(&mut ws);
        answered.push(v["frame"].as_u64().unwrap() as u32);
        dropped = v["dropped"].as_u64().unwrap();
    }
    assert_eq!(
        answered.len() as u64 + dropped,
        burst as u64,
        "{answered:?}, {dropped} dropped"
    );
    let (_, m) = server.json("GET", "/metrics", b"");
    assert_eq!(m["frames"].as_u64(), Some(2 + answered.len() as u64), "{m}");
    assert_eq!(m["dropped_frames"].as_u64(), Some(dropped), "{m}");
    let _ = ws.close(None);
}

/// `/detect` requests from 8 concurrent clients: every answer equals `detect`. 80 requests
/// by default; `CLASSIC_CV_LOAD_REQUESTS=1000` for the load figure of the README (with
/// `--nocapture` for the latency line).
#[test]
fn concurrent_requests_all_equal_the_cli() {
    let server = Server::start(&haar_default());
    let cases: Vec<(Vec<u8>, Value)> = photos()
        .iter()
        .map(|p| {
            (
                std::fs::read(p).unwrap(),
                cli_boxes(&haar_default(), p, &[]),
            )
        })
        .collect();
    let total: usize = std::env::var("CLASSIC_CV_LOAD_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(80);
    let (clients, per_client) = (8, total.div_ceil(8));
    let start = Instant::now();
    let mut lat: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let (server, cases) = (&server, &cases);
                s.spawn(move || {
                    let mut lat = Vec::new();
                    for k in 0..per_client {
                        let (bytes, want) = &cases[(c + k) % cases.len()];
                        let t = Instant::now();
                        let (status, v) = server.json("POST", "/detect", bytes);
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                        assert_eq!(status, 200, "{v}");
                        assert_eq!(&v["boxes"], want);
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    lat.sort_by(f64::total_cmp);
    let n = lat.len();
    eprintln!(
        "{n} requests, {clients} clients, {:.1} s: client latency p50 {:.1} ms, p99 {:.1} ms",
        start.elapsed().as_secs_f64(),
        lat[n / 2],
        lat[(n * 99).div_ceil(100) - 1]
    );
    let (_, m) = server.json("GET", "/metrics", b"");
    assert_eq!(m["requests"].as_u64(), Some(n as u64));
    eprintln!("server /metrics: {m}");
}

/// `ffmpeg` with `args`, its stdout; fails naming the program when it is missing.
fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(args)
        .output()
        .expect("ffmpeg is missing: `apt-get install ffmpeg` (the video tests need it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn detect_video_equals_detect_raw_on_the_same_frames_and_draws_a_video() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mkv");
    let megamind = cache().join("opencv-doc/Megamind.avi");
    let (clip_s, megamind_s) = (clip.to_str().unwrap(), megamind.to_str().unwrap());
    // 24 frames, losslessly re-encoded so that every decoder sees the same pixels.
    ffmpeg(&[
        "-i",
        megamind_s,
        "-an",
        "-frames:v",
        "24",
        "-c:v",
        "ffv1",
        clip_s,
    ]);
    let raw = ffmpeg(&["-i", clip_s, "-f", "rawvideo", "-pix_fmt", "gray", "-"]);
    assert_eq!(raw.len(), 24 * 720 * 528);
    let cascade = haar_default();
    let out = dir.path().join("boxes.mp4");
    let video = Command::new(env!("CARGO_BIN_EXE_classic-cv"))
        .args([
            "detect",
            "--cascade",
            cascade.to_str().unwrap(),
            "--video",
            clip_s,
        ])
        .args(["--draw-video", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        video.status.success(),
        "{}",
        String::from_utf8_lossy(&video.stderr)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_classic-cv"))
        .args([
            "detect",
            "--cascade",
            cascade.to_str().unwrap(),
            "--raw",
            "720x528",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&raw).unwrap());
    let piped = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let lines = |b: &[u8]| -> Vec<Value> {
        String::from_utf8_lossy(b)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (v, r) = (lines(&video.stdout), lines(&piped.stdout));
    assert_eq!(v.len(), 24);
    assert_eq!(v.len(), r.len());
    let mut boxed = 0;
    for (k, (a, b)) in v.iter().zip(&r).enumerate() {
        assert_eq!(a["frame"], k, "{a}");
        assert_eq!(a["boxes"], b["boxes"], "frame {k}");
        boxed += usize::from(!a["boxes"].as_array().unwrap().is_empty());
    }
    assert!(boxed > 12, "only {boxed} of 24 frames have a box");
    // The drawn video: 24 frames of the input's size, with green where the boxes are.
    let first = ffmpeg(&[
        "-i",
        out.to_str().unwrap(),
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]);
    assert_eq!(first.len(), 24 * 720 * 528 * 3);
    let b = v.iter().find(|l| !l["boxes"][0].is_null()).unwrap();
    let (k, x, y) = (
        b["frame"].as_u64().unwrap() as usize,
        b["boxes"][0][0].as_u64().unwrap() as usize,
        b["boxes"][0][1].as_u64().unwrap() as usize,
    );
    let w = b["boxes"][0][2].as_u64().unwrap() as usize;
    let at = |x: usize, y: usize| &first[((k * 528 + y) * 720 + x) * 3..][..3];
    let green = (x..x + w).filter(|&xx| {
        let p = at(xx, y);
        p[1] > 150 && p[0] < 110 && p[2] < 110
    });
    assert!(
        green.count() > w / 2,
        "no green box edge at frame {k}, row {y}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "a temporary file was left"
    );
}

#[test]
fn detect_video_names_missing_ffmpeg_and_refuses_bad_arguments() {
    let megamind = cache().join("opencv-doc/Megamind.avi");
    let run = |args: &[&str], path: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_classic-cv"));
        c.args(["detect", "--cascade", haar_default().to_str().unwrap()])
            .args(args);
        if let Some(p) = path {
            c.env("PATH", p);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let m = megamind.to_str().unwrap();
    let (code, err) = run(&["--video", m], Some("/nonexistent"));
    assert_eq!(code, Some(1));
    assert!(err.contains("`ffmpeg` was not found"), "{err}");
    let (code, err) = run(&["--video", "/nonexistent.avi"], None);
    assert_eq!(code, Some(1));
    assert!(err.contains("no such video file"), "{err}");
    let (code, err) = run(&["--video", m, "--draw-video", m], None);
    assert_eq!(code, Some(2));
    assert!(err.contains("is also an input"), "{err}");
    let (code, _) = run(&["--video", m, "--raw", "8x8"], None);
    assert_eq!(code, Some(2));
}
