"""OpenCV 4.14 references for the warp tests (tests/it/warp.rs): writes tests/data/warp/.

Run from the repository root with a Python that has numpy and opencv-python 4.14:
    python tests/data/warp_opencv.py
Inputs are synthetic (seeded), so the files can be regenerated anywhere; one OpenCV thread.
"""
import json, os
import numpy as np, cv2

cv2.setNumThreads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "warp")
os.makedirs(OUT, exist_ok=True)
rs = np.random.RandomState(19)


def texture(w, h):
    """Smooth shading, sharp squares and noise: every kind of neighbourhood."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    smooth = 110 + 60 * np.sin(x / 9.0) * np.cos(y / 7.0)
    squares = np.where(((x // 8) + (y // 8)) % 2 == 0, 60.0, -60.0)
    noise = rs.normal(0, 18, (h, w))
    return np.clip(smooth + squares + noise, 0, 255).astype(np.uint8)


def save_png(name, img):
    assert cv2.imwrite(os.path.join(OUT, name), img)


src = texture(96, 72)
save_png("src.png", src)
BORDERS = {"constant": (cv2.BORDER_CONSTANT, 77), "replicate": (cv2.BORDER_REPLICATE, 0),
           "reflect101": (cv2.BORDER_REFLECT_101, 0)}

# remap: a smooth random map over [-12, 108] x [-12, 84], so some pixels read outside.
mw, mh = 80, 60
v, u = np.mgrid[0:mh, 0:mw].astype(np.float64)
mx = -12 + u * 1.5 + 6 * np.sin(v / 5.0 + 0.3) + rs.uniform(-0.5, 0.5, (mh, mw))
my = -12 + v * 1.6 + 5 * np.cos(u / 6.0) + rs.uniform(-0.5, 0.5, (mh, mw))
xy = np.dstack([mx, my]).astype(np.float32)
np.save(os.path.join(OUT, "map_xy.npy"), xy)
for name, (b, val) in BORDERS.items():
    save_png(f"remap_linear_{name}.png", cv2.remap(src, xy, None, cv2.INTER_LINEAR, borderMode=b, borderValue=val))
    save_png(f"remap_nearest_{name}.png", cv2.remap(src, xy, None, cv2.INTER_NEAREST, borderMode=b, borderValue=val))

# warpPerspective: H maps source pixels to output pixels (a strong perspective).
H = np.array([[0.9, 0.18, 4.5], [-0.12, 1.05, 6.25], [0.0021, -0.0013, 1.0]])
for name, (b, val) in BORDERS.items():
    save_png(f"persp_linear_{name}.png", cv2.warpPerspective(src, H, (88, 70), flags=cv2.INTER_LINEAR, borderMode=b, borderValue=val))
    save_png(f"persp_nearest_{name}.png", cv2.warpPerspective(src, H, (88, 70), flags=cv2.INTER_NEAREST, borderMode=b, borderValue=val))
Minv = np.linalg.inv(H)
save_png("persp_inverse_linear.png", cv2.warpPerspective(src, Minv, (88, 70), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP))
# Colour: three different planes.
rgb = np.dstack([src, texture(96, 72), 255 - src])
save_png("src_rgb.png", rgb)
save_png("persp_linear_rgb.png", cv2.warpPerspective(rgb, H, (88, 70), flags=cv2.INTER_LINEAR))

# Undistortion: OpenCV's calibration of left01..14 (640x480) scaled to 160x120.
s = 0.25
K = np.array([[536.073433176482 * s, 0, 342.3704732649948 * s], [0, 536.016341419138 * s, 235.53687503436012 * s], [0, 0, 1]])
dist = np.array([-0.26509008977827, -0.04674442089289589, 0.0018330264080566958, -0.0003146928071326722, 0.25231620083623646])
usrc = texture(160, 120)
save_png("usrc.png", usrc)
save_png("undistort.png", cv2.undistort(usrc, K, dist))
# With the new camera matrix of getOptimalNewCameraMatrix (alpha 0.5).
K05, _ = cv2.getOptimalNewCameraMatrix(K, dist, (160, 120), 0.5)
save_png("undistort_alpha05.png", cv2.undistort(usrc, K, dist, None, K05))
m32, _ = cv2.initUndistortRectifyMap(K, dist, None, K, (160, 120), cv2.CV_32FC2)
np.save(os.path.join(OUT, "undistort_map_every4.npy"), np.ascontiguousarray(m32[::4, ::4]))
R = cv2.Rodrigues(np.array([0.02, -0.03, 0.01]))[0]
P = np.array([[120.0, 0, 82.0], [0, 120.0, 58.0], [0, 0, 1]])
r32, _ = cv2.initUndistortRectifyMap(K, dist, R, P, (150, 110), cv2.CV_32FC2)
np.save(os.path.join(OUT, "rectify_map_every4.npy"), np.ascontiguousarray(r32[::4, ::4]))
r16a, r16b = cv2.initUndistortRectifyMap(K, dist, R, P, (150, 110), cv2.CV_16SC2)
save_png("rectify_remap16.png", cv2.remap(usrc, r16a, r16b, cv2.INTER_LINEAR))

json.dump({"H": H.tolist(), "K": K.tolist(), "dist": dist.tolist(), "R": R.tolist(), "P": P.tolist(),
           "border_value": 77, "opencv": cv2.__version__},
          open(os.path.join(OUT, "params.json"), "w"), indent=1)
print("wrote", OUT)
