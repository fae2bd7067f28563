#!/usr/bin/env bash
# `make demo`: the main job on the sample videos, mining and pre-annotating with a real pretrained detector when one
# is at hand. Your own DATA_ENGINE_DETECTORS wins; else ../shared/models/yolox_nano.onnx; else YOLOX-Nano's official
# release by name when online; else a cold start (no model: frames are sampled for diversity only). It says which.
set -euo pipefail
BIN=${BIN:-.venv/bin}
VIDEOS=${1:-../shared/videos}
LOCAL_MODEL=${DEMO_MODEL:-../shared/models/yolox_nano.onnx}
if [ -n "${DATA_ENGINE_DETECTORS:-}" ]; then
  echo "demo: detectors from DATA_ENGINE_DETECTORS=$DATA_ENGINE_DETECTORS"
elif [ -f "$LOCAL_MODEL" ]; then
  echo "demo: mining and pre-annotating with $LOCAL_MODEL (YOLOX-Nano, COCO, persons kept)"
  export DATA_ENGINE_DETECTORS="$LOCAL_MODEL"
elif "$BIN/python" -c 'import sys; from data_engine.detectors.loading import online; sys.exit(0 if online() else 1)'; then
  echo "demo: mining and pre-annotating with yolox_nano.onnx (YOLOX-Nano's official release, downloaded once)"
  export DATA_ENGINE_DETECTORS=yolox_nano.onnx
else
  echo "demo: no detector at hand (offline, no $LOCAL_MODEL): a cold start, frames sampled for diversity only"
fi
export DATA_ENGINE_CLASSES=${DATA_ENGINE_CLASSES:-person}
exec "$BIN/data-engine" run "$VIDEOS"
