"""A deliberately tiny YOLO11 architecture (about 0.28 M parameters) for smoke runs and tests on CPU: it trains in
about a minute on proving-ground data and detects, weakly."""

from __future__ import annotations

from pathlib import Path

TINY_MODEL = "tiny-yolo11n.yaml"
"""The name `DATA_ENGINE_TRAIN_MODEL` knows this architecture by, as Ultralytics knows `yolo11n.yaml`."""

TINY_YOLO11_YAML = """\
# YOLO11 layout at depth 0.33, width 0.125, max 256 channels.
nc: 2
scales:
  n: [0.33, 0.125, 256]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 2, C3k2, [256, False, 0.25]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [-1, 2, C3k2, [512, False, 0.25]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [-1, 2, C3k2, [512, True]]
  - [-1, 1, Conv, [1024, 3, 2]]
  - [-1, 2, C3k2, [1024, True]]
  - [-1, 1, SPPF, [1024, 5]]
  - [-1, 2, C2PSA, [1024]]
head:
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 6], 1, Concat, [1]]
  - [-1, 2, C3k2, [512, False]]
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 4], 1, Concat, [1]]
  - [-1, 2, C3k2, [256, False]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [[-1, 13], 1, Concat, [1]]
  - [-1, 2, C3k2, [512, False]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [[-1, 10], 1, Concat, [1]]
  - [-1, 2, C3k2, [1024, True]]
  - [[16, 19, 22], 1, Detect, [nc]]
"""


def tiny_model_yaml(out_dir: str | Path) -> Path:
    """Write the tiny architecture as `tiny-yolo11n.yaml` in `out_dir` (the `n` in the name selects its scale)."""
    path = Path(out_dir) / TINY_MODEL
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TINY_YOLO11_YAML)
    return path
