#!/usr/bin/env bash
# The GPU benchmark in one command (from the repository root): make the carried wheels in .whl/ importable, then
# measure and write $OUT/gpu_bench.json (and .log). Each part is guarded; the whole run stops itself before 8 minutes.
#   bash bench/gpu/run.sh            # on the GPU machine
#   QUICK=1 bash bench/gpu/run.sh    # a tiny CPU run that checks the script end to end
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/artifacts/gpu}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
SITE=$PWD/artifacts/gpu-site
echo "== $(command -v "$PYTHON"): $("$PYTHON" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1)" | tee "$OUT/gpu_bench.log"
echo "== wheels" | tee -a "$OUT/gpu_bench.log"
"$PYTHON" bench/gpu/install_wheels.py .whl "$SITE" 2>&1 | tee -a "$OUT/gpu_bench.log"
echo "== bench" | tee -a "$OUT/gpu_bench.log"
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}" YOLO_OFFLINE=1 YOLO_CONFIG_DIR="$SITE/yolo-config"
timeout -k 10 ${LIMIT_S:-460} "$PYTHON" -u -m bench.gpu.gpu_bench --out "$OUT/gpu_bench.json" ${QUICK:+--quick} \
  2>&1 | tee -a "$OUT/gpu_bench.log"
echo "== done: $OUT/gpu_bench.json" | tee -a "$OUT/gpu_bench.log"
