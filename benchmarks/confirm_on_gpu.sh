#!/usr/bin/env bash
# The CoCoDiff comparison on one CUDA machine, many seeds at once, in one call (about ten
# minutes on a 16-core machine with one GPU; it also runs on CPU, slowly).
#
#   bash benchmarks/confirm_on_gpu.sh [NW-UCLA all_sqe folder] [output folder]
#   ARMS="baseline sampled_far gaussian_far" SEEDS="0 1 2 3 4 5 6 7 8 9" FOLD=dev bash benchmarks/confirm_on_gpu.sh
#   ARMS="baseline sampled_real_soft" FOLD=standard bash benchmarks/confirm_on_gpu.sh   # the declared comparison
#   FOLD=dev_budget ARMS="baseline sampled_real_soft" bash benchmarks/confirm_on_gpu.sh # the published width, 60 epochs
#
# Every run is the CPU recipe (configs/ucla_joint_cpu.yaml) with device=cuda, one process per
# run, as many processes as there are cores less two. Records go to OUT/results.jsonl (and the
# per-clip logits beside it), then the report prints the table with its tests. GPU numbers are
# not bit-identical to CPU ones: compare arms within one machine's results only.
set -euo pipefail
SOURCE=${1:-../shared/data/nw_ucla/all_sqe}
OUT=${2:-runs/confirm_gpu}
ARMS=${ARMS:-baseline sampled_far gaussian_far}
SEEDS=${SEEDS:-$(seq -s ' ' 0 9)}
FOLD=${FOLD:-dev}
JOBS=${JOBS:-$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))}
PYTHON=${PYTHON:-python}
mkdir -p "$OUT"
[ -f "$OUT/ucla.pkl" ] || "$PYTHON" -m cocodiff.data.prepare ucla "$SOURCE" --out "$OUT/ucla.pkl"
"$PYTHON" -c "import torch; print('device:', torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu (no CUDA)')"
# shellcheck disable=SC2086
"$PYTHON" benchmarks/ablation_protocol.py run --data "$OUT/ucla.pkl" --fold "$FOLD" --arms $ARMS --seeds $SEEDS \
    --jobs "$JOBS" --out "$OUT" --results "$OUT/results.jsonl" --extra device=auto
"$PYTHON" benchmarks/ablation_protocol.py report --fold "$FOLD" --results "$OUT/results.jsonl"
