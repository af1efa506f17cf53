//! Viola-Jones detection speed on the 640x480 anchor frames (default cascade, scale 1.1,
//! minNeighbors 3, minSize 24), in a 1-thread and a 2-thread pool, plus the frame-stream
//! mode that `classic-cv detect --raw` uses (one frame per thread at a time). The
//! throughput is in frames per second.
//!
//! `cargo bench --bench detect` (set `CLASSIC_CV_SHARED` if `../shared` is elsewhere).

#![allow(missing_docs)]

use std::path::PathBuf;

use classic_cv::Image;
use classic_cv::detect::cascade::Cascade;
use classic_cv::detect::{DetectParams, Detector, FrameStream};
use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};

#[allow(dead_code)]
#[path = "../tests/it/locate.rs"]
mod locate;

fn frames() -> Vec<Vec<u8>> {
    let dir = locate::anchors("opencv/frames");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("_gray.png"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| Image::load(p).unwrap().to_u8())
        .collect()
}

fn bench(c: &mut Criterion) {
    let cache = locate::cache();
    let cascade =
        Cascade::load(cache.join("opencv/haarcascades/haarcascade_frontalface_default.xml"))
            .unwrap();
    let det = Detector::new(cascade).unwrap();
    let params = DetectParams {
        min_size: (24, 24),
        ..Default::default()
    };
    let frames = frames();
    let mut g = c.benchmark_group("detect");
    g.sample_size(10);
    g.throughput(Throughput::Elements(frames.len() as u64));
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        g.bench_function(
            BenchmarkId::new(
                "haar_default",
                format!("640x480-sf1.1-mn3-min24-threads{threads}"),
            ),
            |b| {
                b.iter(|| {
                    pool.install(|| {
                        for f in &frames {
                            black_box(det.detect_u8(f, 640, 480, &params).unwrap());
                        }
                    })
                })
            },
        );
        g.bench_function(
            BenchmarkId::new(
                "raw_stream",
                format!("640x480-sf1.1-mn3-min24-threads{threads}"),
            ),
            |b| {
                // As `--raw` does: one frame per thread at a time.
                let mut stream = FrameStream::new(&det, 640, 480, params.clone()).unwrap();
                let views: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
                b.iter(|| {
                    pool.install(|| {
                        for batch in views.chunks(threads) {
                            black_box(stream.detect_batch(batch).unwrap());
                        }
                    })
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
