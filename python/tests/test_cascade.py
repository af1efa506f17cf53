"""CascadeClassifier.detectMultiScale equals OpenCV 4.14's boxes, order and neighbour
counts on the shared anchor frames (the same reference as tests/it/detect.rs)."""

import json

import numpy as np
import pytest

import classic_cv as cc

from conftest import anchors, cache

CASCADES = {
    "haar_default": "opencv/haarcascades/haarcascade_frontalface_default.xml",
    "haar_alt": "opencv/haarcascades/haarcascade_frontalface_alt.xml",
    "lbp_improved": "opencv/lbpcascades/lbpcascade_frontalface_improved.xml",
}


@pytest.mark.parametrize("name", sorted(CASCADES))
def test_detect_multiscale_equals_opencv(name):
    root = anchors("opencv")
    ref = json.loads((root / "detections.json").read_text())["detections"][name]
    det = cc.CascadeClassifier(str(cache(CASCADES[name])))
    checked = 0
    for mn in (0, 3, 5):
        per = ref[f"minNeighbors={mn}"]
        for stem, want in per.items():
            gray = cc.load_image(root / "frames" / f"{stem}_gray.png")
            img = np.round(gray * 255).astype(np.uint8)
            boxes, counts = det.detectMultiScale2(img, scaleFactor=1.1, minNeighbors=mn,
                                                  minSize=(24, 24))
            assert boxes.tolist() == want["boxes_xywh"], f"{name} {stem} mn={mn}"
            if mn > 0:
                assert counts.tolist() == want["neighbors"], f"{name} {stem} mn={mn}"
            checked += 1
    assert checked >= 15
