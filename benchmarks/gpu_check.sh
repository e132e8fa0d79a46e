#!/usr/bin/env bash
# The prepared GPU check (issue 14): run it once whenever a GPU is lent; under 8 minutes on one
# H100-class GPU. It measures, on the GPU:
#   1. fine-tuning throughput, padding-free engine vs padded path, bf16 autocast over fp32 master
#      weights and plain fp32 (benchmarks/bench_engine.py: same records, same run; the same
#      batch's loss must agree to 1e-5), on an 87M-parameter Llama of the default's shape family;
#   2. batched scoring tokens/s against a batch-1 loop (benchmarks/bench_scoring.py; target >= 5x);
#   3. the engine tests on the GPU (packed == padded loss and gradients, labelled-only head, and
#      that bf16 training moves the weights an lr 2e-5 step would round away in bf16 storage);
#   4. only where `import vllm` works: vLLM offline inference against the transformers batched
#      engine on the same tagging prompts (generated tokens/s, output agreement) and the
#      DEITA-style score read from vLLM's log-probabilities vs transformers' logits
#      (benchmarks/bench_vllm.py); elsewhere the table says "vllm: not installed".
# and prints one table. A CPU rehearsal: DEVICE=cpu QUICK=1 benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-0}
OUT=${OUT:-benchmarks/out/gpu_check}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

ARCH='{"hidden_size": 768, "intermediate_size": 2048, "num_layers": 12, "num_heads": 12, "max_length": 1024}'
STEPS=150 REPEATS=3 NREC=4000 NPROMPTS=512 NEWTOK=64 VDTYPE=bfloat16
if [ "$QUICK" = 1 ]; then
  ARCH='{}' STEPS=4 REPEATS=1 NREC=64 NPROMPTS=8 NEWTOK=8 VDTYPE=float32
fi

if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
fi
t0=$SECONDS
"$PY" benchmarks/bench_engine.py --device "$DEVICE" --bf16 --arch "$ARCH" --steps "$STEPS" \
  --repeats "$REPEATS" --out "$OUT/engine_bf16.json" >"$OUT/engine_bf16.log" 2>&1
"$PY" benchmarks/bench_engine.py --device "$DEVICE" --arch "$ARCH" --steps "$STEPS" \
  --repeats "$REPEATS" --out "$OUT/engine_fp32.json" >"$OUT/engine_fp32.log" 2>&1
"$PY" benchmarks/bench_scoring.py --device "$DEVICE" --n-records "$NREC" --batch-size 64 \
  --skip-api-batch1 --out "$OUT/scoring.json" >"$OUT/scoring.log" 2>&1
tests=ok
"$PY" -m pytest -q -p no:cacheprovider tests/test_engine.py >"$OUT/tests.log" 2>&1 || tests=FAILED
rm -f "$OUT/vllm.json" "$OUT/vllm.log"
if "$PY" -c "import vllm" >/dev/null 2>&1; then
  "$PY" benchmarks/bench_vllm.py --device "$DEVICE" --arch "$ARCH" --n-prompts "$NPROMPTS" \
    --max-new-tokens "$NEWTOK" --dtype "$VDTYPE" --out "$OUT/vllm.json" >"$OUT/vllm.log" 2>&1 || true
fi
echo "wall seconds: $((SECONDS - t0))" >"$OUT/wall.txt"

"$PY" - "$OUT" "$tests" <<'PY'
import json, sys
from pathlib import Path
out, tests = Path(sys.argv[1]), sys.argv[2]
rows = []
for name in ("engine_bf16", "engine_fp32"):
    r = json.loads((out / f"{name}.json").read_text())
    e, loop = r["end_to_end"], r["loop"]
    tag = "bf16 autocast, fp32 master" if r["bf16"] else "fp32"
    rows.append((f"fine-tune ({tag}) padded, tokens/s", e["padded"]["tokens_per_s"], ""))
    rows.append((f"fine-tune ({tag}) packed, tokens/s", e["packed"]["tokens_per_s"],
                 f"x{e['speedup_packed_vs_padded']} vs padded"))
    rows.append((f"  same batch |loss diff| ({tag})", f"{r['same_batch']['loss_abs_diff']:.2e}",
                 "ok" if r["same_batch"]["loss_within_1e-5"] else "> 1e-5"))
    for k in ("packed", "padded_length_grouped", "packed_512", "packed_one_row"):
        rows.append((f"  loop {k} ({tag})", loop[k]["tokens_per_s"], f"x{loop[k]['speedup_vs_padded']}"))
s = json.loads((out / "scoring.json").read_text())
rows.append(("scoring batched, response tokens/s", s["batched"]["response_tokens_per_s"],
             f"x{s['speedup_batched_vs_loop']} vs batch-1 loop (target >= 5)"))
rows.append(("scoring |nll diff| batched vs loop", f"{s['max_abs_diff_nll_sum']:.2e}", ""))
rows.append(("engine tests on this device", tests, "tests/test_engine.py"))
vpath = out / "vllm.json"
if vpath.exists():
    v = json.loads(vpath.read_text())
    rows.append(("vllm generate, tokens/s", v["vllm"]["tokens_per_s"],
                 f"x{v['speedup_vllm_vs_transformers']} vs transformers batched "
                 f"({v['transformers']['tokens_per_s']}); engine start {v['vllm']['engine_start_s']} s"))
    a = v["agreement"]
    rows.append(("  vllm vs transformers outputs", f"exact {a['exact_match']}",
                 f"first token {a['first_token']}, common prefix {a['mean_common_prefix_share']} ({v['dtype']})"))
    d = v["deita"]
    rows.append(("  deita |score diff| vllm vs transformers", f"{d['max_abs_diff']:.2e}", f"max over {d['n']}"))
elif (out / "vllm.log").exists():
    rows.append(("vllm", "FAILED", f"see {out / 'vllm.log'}"))
else:
    rows.append(("vllm", "not installed", "pip install vllm to compare it"))
rows.append(("wall", (out / "wall.txt").read_text().split(":")[1].strip() + " s", ""))
w = max(len(r[0]) for r in rows)
print(f"{'check':<{w}} | value | note")
print(f"{'-' * w}-|-------|-----")
for a, b, c in rows:
    print(f"{a:<{w}} | {b} | {c}")
PY
