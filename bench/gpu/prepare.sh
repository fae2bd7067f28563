#!/usr/bin/env bash
# Run HERE (with internet), from the repository root: fills the ignored .whl/ folder with what the GPU machine lacks
# (Python 3.12, x86_64, no internet) and the trained tiny detector. Then run there: bash bench/gpu/run.sh
# (carry .whl). About 44 MB; WITH_SCIPY=1 adds scipy (35 MB, needed there only for the hindsight part of the
# end-to-end measurement; over the 64 MiB a device run can carry together with the tree).
set -euo pipefail
cd "$(dirname "$0")/../.."
PIP=${PIP:-.venv/bin/pip}
mkdir -p .whl
download() {
  "$PIP" download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "$@"
}
download ultralytics==8.4.190 ultralytics-thop==2.2.3 av==18.1.0 fsspec==2026.9.0 pyyaml==6.0.4 \
  requests==2.34.2 urllib3==2.8.0 idna==3.20 charset-normalizer==3.5.3 certifi==2026.10.19.post1 \
  sqlalchemy==2.1.9 alembic==1.20.1 mako==1.4.3 markupsafe==3.0.4 greenlet==3.5.6 typing-extensions==4.16.0
if [ "${WITH_SCIPY:-0}" = 1 ]; then download scipy==1.17.1; fi
TINY=${TINY:-$HOME/.cache/data-engine-bench/autolabel/tiny/train/weights/best.pt}
if [ ! -f "$TINY" ]; then .venv/bin/python -c "from bench.bench_autolabel import tiny_weights; tiny_weights()"; fi
cp "$TINY" .whl/tiny.pt
# the two real ONNX detectors (4.7 MB) for the onnx/* parts
mkdir -p .whl/models
cp ../shared/models/yolox_nano.onnx ../shared/models/fastestdet.onnx .whl/models/ 2>/dev/null || echo "no ../shared/models: onnx/* parts will be skipped"
du -sh .whl
