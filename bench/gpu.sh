#!/usr/bin/env bash
# One prepared run for a day a GPU machine is lent: encoder items/s on CUDA in
# bf16 (vs sentence-transformers on the same GPU) and index QPS on faiss-gpu
# when it is installed (faiss-cpu otherwise, said so in the output).
# Usage: bash bench/gpu.sh [OUT_DIR]   (writes encoder-gpu.json, index-gpu.json)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-${OUT:-var/bench/gpu}}"
mkdir -p "$OUT"
PY="${PY:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
"$PY" - <<'PY'
import torch
print(f"torch {torch.__version__}; cuda available: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print(f"device: {torch.cuda.get_device_name(0)}")
PY
# Encoder: all real texts (~10k), bf16 on CUDA, bigger batches than the CPU default.
HOMEFEED_DEVICE=cuda HOMEFEED_ENCODER_DTYPE=bfloat16 HOMEFEED_ENCODER_BATCH_SIZE=256 \
  timeout 300 "$PY" -m streams.cli bench encoder --json "$OUT/encoder-gpu.json"
# Index: batch and single-query QPS, recall@100 vs exact, on the GPU when faiss has one.
timeout 400 "$PY" - "$OUT/index-gpu.json" <<'PY'
import json, sys, time
import faiss, numpy as np
from bench.catalog import clustered_vectors
gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
print(f"faiss {faiss.__version__}; GPUs visible to faiss: {gpus}")
rows = []
for n in (100_000, 1_000_000):
    x = clustered_vectors(n, 384, seed=n)
    q = clustered_vectors(2000, 384, seed=n + 1)
    def make(factory):
        index = faiss.index_factory(384, factory, faiss.METRIC_INNER_PRODUCT)
        if gpus:
            index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
        return index
    results = {}
    for factory, nprobe in (("Flat", None), ("IVF4096,Flat", 64), ("IVF4096,Flat", 128)):
        index = make(factory)
        started = time.perf_counter()
        if not index.is_trained:
            index.train(x[: 4096 * 39])
        index.add(x)
        build = time.perf_counter() - started
        if nprobe:
            if gpus:
                faiss.GpuParameterSpace().set_index_parameter(index, "nprobe", nprobe)
            else:
                faiss.extract_index_ivf(index).nprobe = nprobe
        index.search(q[:10], 100)
        started = time.perf_counter(); _, found = index.search(q, 100); batch = time.perf_counter() - started
        started = time.perf_counter()
        for row in q[:200]:
            index.search(row[None, :], 100)
        single = time.perf_counter() - started
        name = factory if nprobe is None else f"{factory}/nprobe={nprobe}"
        results[name] = found
        truth = results["Flat"]
        recall = float(np.mean([len(set(a) & set(b)) / 100 for a, b in zip(found, truth)]))
        rows.append({"name": name, "n": n, "gpu": bool(gpus), "build_s": round(build, 2), "qps": round(len(q) / batch, 1), "single_qps": round(200 / single, 1), "recall@100": round(recall, 4)})
        print(rows[-1], flush=True)
        del index
flat = {r["n"]: r["qps"] for r in rows if r["name"] == "Flat"}
for r in rows:
    r["flat_qps"] = flat[r["n"]]
    print(f"{r['name']:<24} n={r['n']:>8}  {r['qps'] / r['flat_qps']:6.1f}x exact QPS  recall@100={r['recall@100']}")
json.dump({"configurations": rows}, open(sys.argv[1], "w"), indent=2)
PY
echo "wrote $OUT/encoder-gpu.json $OUT/index-gpu.json"
