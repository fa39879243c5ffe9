#!/usr/bin/env bash
# On the GPU machine: tritoncore and the real Triton 2.51 serve the same Python-backend model
# (../shared/peer-triton/gpu_model_repo/torch_mlp: a 4-layer fp16 MLP on the GPU, dynamic
# batching up to 64), measured alternately by the same perf_analyzer 2.51 over gRPC and HTTP.
#
#   usage there: bash benchmarks/gpu_mlp.sh BUNDLE_DIR PEER_DIR [CONCURRENCIES...]
#     BUNDLE_DIR: holds triton251.tar.xz (../shared/peer-triton/bundle-for-gpu.sh)
#     PEER_DIR:   a copy of ../shared/peer-triton (gpu_model_repo/)
# Here (the device tool): carry the two folders (and wheels of what the machine lacks) and run it.
# Environment: WORKERS="0 4 8" runs one tritoncore per value side by side, each with
# --http-workers set to it (HTTP worker processes; default "0"); CORES="DIR ..." pairs with
# WORKERS by position and runs that tritoncore on another copy of core/ (e.g. one compiled with
# mypyc; default: this checkout's core/ for every entry);
# PROTOCOLS="http" measures HTTP only (default "grpc http"); PROFILE_C=128 adds, after the
# table, one HTTP run per server at that concurrency with each process's CPU per request
# (benchmarks/proc_cpu.py: server, stubs, workers).
set -u
bundle=${1:?usage: gpu_mlp.sh BUNDLE_DIR PEER_DIR [c ...]}; peer=${2:?}; shift 2
concs=${*:-1 16 64 128}
root=$(cd "$(dirname "$0")/.." && pwd)
tar xJf "$bundle/triton251.tar.xz" -C /tmp
T=/tmp/triton251
PYDIR=$(dirname "$(command -v python3)")
LIBPY=$(python3 -c "import sysconfig;print(sysconfig.get_config_var('LIBDIR'))")
export LD_LIBRARY_PATH="$T/lib:$T/pa/lib:$LIBPY${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
repo=$(cd "$peer/gpu_model_repo" && pwd)

PATH="$PYDIR:$PATH" "$T/bin/tritonserver" --model-repository "$repo" --backend-directory "$T/backends" \
  --cache-directory "$T/caches" --http-port 18000 --grpc-port 18001 --metrics-port 18002 \
  > /tmp/triton.log 2>&1 &
TP=$!
# one tritoncore per entry of WORKERS (frontend worker processes; default "0"): ports 28000, 28100, ...
workers=(${WORKERS:-0})
cores=(${CORES:-})
CPS=()
for i in "${!workers[@]}"; do
  base=$((28000 + 100 * i))
  core=$(cd "${cores[$i]:-$root/core}" && pwd)
  PYTHONPATH="$core:$root/plugins/python${PYTHONPATH:+:$PYTHONPATH}" python3 -m tritoncore serve \
    --model-repository "$repo" --http-port $base --grpc-port $((base + 1)) --metrics-port $((base + 2)) \
    --allow-metrics false --http-workers "${workers[$i]}" > /tmp/tritoncore$i.log 2>&1 &
  CPS+=($!)
done
python3 -c "import uvloop; print('uvloop', uvloop.__version__)" 2>&1 | tail -1
for i in "${!workers[@]}"; do
  port=$((28000 + 100 * i))
  for j in $(seq 180); do curl -sf localhost:$port/v2/health/ready >/dev/null && break; sleep 1; done
  curl -sf localhost:$port/v2/health/ready >/dev/null || { echo "tritoncore on $port not ready"; tail -n 30 /tmp/tritoncore$i.log; kill $TP "${CPS[@]}"; exit 1; }
done
for j in $(seq 180); do curl -sf localhost:18000/v2/health/ready >/dev/null && break; sleep 1; done
curl -sf localhost:18000/v2/health/ready >/dev/null || { echo "triton not ready"; tail -n 30 /tmp/triton.log; kill $TP "${CPS[@]}"; exit 1; }
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
pa() {  # server-label protocol url c
  r=$("$T/pa/bin/perf_analyzer" -m torch_mlp -i "$2" -u "$3" --concurrency-range "$4:$4" \
       --measurement-interval 4000 --stability-percentage 50 --max-trials 4 2>&1)
  t=$(echo "$r" | grep -E "^\s+Throughput" | tail -1 | awk '{print $2}')
  p=$(echo "$r" | grep -E "p99 latency" | tail -1 | awk '{print $3}')
  echo "| $1 | $2 | $4 | ${t:-ERR} | ${p:-?} |"
  [ -n "$t" ] || echo "$r" | tail -5
}
echo "| server | protocol | concurrency | infer/s | p99 us |"
echo "|---|---|---|---|---|"
for proto in ${PROTOCOLS:-grpc http}; do
  off=0; [ $proto = grpc ] && off=1
  for c in $concs; do
    pa triton "$proto" "localhost:1800$off" "$c"
    for i in "${!workers[@]}"; do
      # --http-workers does not touch gRPC: one gRPC row per core/
      [ $proto = grpc ] && [ "$i" -gt 0 ] && [ -z "${cores[$i]:-}" ] && continue
      pa "tritoncore, ${workers[$i]} HTTP workers${cores[$i]:+, ${cores[$i]}}" "$proto" "localhost:$((28000 + 100 * i + off))" "$c"
    done
  done
done
if [ -n "${PROFILE_C:-}" ]; then
  for i in triton "${!workers[@]}"; do
    if [ $i = triton ]; then pid=$TP; port=18000; else pid=${CPS[$i]}; port=$((28000 + 100 * i)); fi
    echo "CPU at HTTP c=$PROFILE_C, $i (workers: ${workers[*]}):"
    python3 "$root/benchmarks/proc_cpu.py" $pid localhost:$port torch_mlp -- "$T/pa/bin/perf_analyzer" \
      -m torch_mlp -u localhost:$port --concurrency-range "$PROFILE_C:$PROFILE_C" \
      --measurement-interval 4000 --stability-percentage 50 --max-trials 3 | grep -E "cpu|Throughput|p99"
  done
fi
curl -s localhost:28000/v2/models/torch_mlp/stats | python3 -c "
import json,sys; s=json.load(sys.stdin)['model_stats'][0]
print('tritoncore batches: inference_count', s['inference_count'], 'execution_count', s['execution_count'])
print('batch sizes:', {b['batch_size']: b['compute_infer']['count'] for b in s['batch_stats']})"
kill $TP "${CPS[@]}"; wait 2>/dev/null
