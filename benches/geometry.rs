//! Backward warping: an undistortion map applied to a 640x480 gray and colour frame (the map built
//! once, as for a video stream), and a whole 800x640 perspective warp (map + warp).

#![allow(missing_docs)]

use classic_cv::geometry::camera::{Camera, Distortion, Intrinsics};
use classic_cv::geometry::remap::Sampling;
use classic_cv::geometry::warp;
use criterion::{Criterion, criterion_group, criterion_main};

fn frame(w: usize, h: usize) -> Vec<u8> {
    (0..w * h)
        .map(|i| ((i % w) * 7 + (i / w) * 13 + (i * 2654435761) % 31) as u8)
        .collect()
}

fn bench(c: &mut Criterion) {
    // OpenCV's calibration of its left01..14 sample photos.
    let camera = Camera {
        intrinsics: Intrinsics {
            fx: 536.07,
            fy: 536.02,
            cx: 342.37,
            cy: 235.54,
            skew: 0.0,
        },
        distortion: Distortion {
            k1: -0.2651,
            k2: -0.0467,
            p1: 0.00183,
            p2: -0.00031,
            k3: 0.2523,
        },
        image_size: [640, 480],
    };
    let map = warp::undistort_map(&camera, None).unwrap();
    let src = frame(640, 480);
    let mut out = vec![0u8; 640 * 480];
    c.bench_function("undistort map applied 640x480 gray u8", |b| {
        b.iter(|| {
            map.apply_u8_into(&src, 1, Sampling::default(), &mut out)
                .unwrap()
        })
    });
    let colour: Vec<u8> = frame(640 * 3, 480);
    let mut out3 = vec![0u8; 640 * 480 * 3];
    c.bench_function("undistort map applied 640x480 colour u8", |b| {
        b.iter(|| {
            map.apply_u8_into(&colour, 3, Sampling::default(), &mut out3)
                .unwrap()
        })
    });
    let h = [
        [0.76, -0.30, 225.7],
        [0.33, 1.01, -77.0],
        [3.5e-4, -1.4e-5, 1.0],
    ];
    let big = frame(800, 640);
    c.bench_function("warpPerspective 800x640 gray u8 (map + warp)", |b| {
        b.iter(|| {
            warp::perspective_map(&h, (800, 640), (800, 640))
                .unwrap()
                .apply_u8(&big, 1, Sampling::default())
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
