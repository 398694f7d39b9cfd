#!/usr/bin/env bash
# The checks and figures that need an NVIDIA GPU, in one run (CI has none):
#   1. `sovereign accel devices`
#   2. the GPU/CPU/reference agreement test, then again under compute-sanitizer (memcheck)
#   3. `sovereign accel bench` on the llama-3.2-1b shape for each CUDA weight type, batches 1 to 64
#   4. where CUPTI is built (BUILD_DIR/tests/bench/libkernel_trace.so), the timeline of batch-1 decode
#      steps for TIMELINE_TYPES (default "bf16 q8_0"): each kernel's time on the critical path
#   5. the quickstart gateway on the GPU: plain and streamed completions, then 32 concurrent ones
# Usage: tests/bench/gpu/gpu_check.sh BUILD_DIR [TYPES]   (TYPES default: "bf16 q8_0 f16 q4_0")
# Logs go to $OUT when it is set (else a temporary folder); a summary table is printed last. Exits 1
# when a check fails (the agreement test's "skipped, no GPU" counts as a failure here).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
build="$(cd "${1:?usage: gpu_check.sh BUILD_DIR [TYPES]}" && pwd)"
types="${2:-bf16 q8_0 f16 q4_0}"
out="${OUT:-$(mktemp -d)}"
bin="$build/sovereign"
agreement="$build/tests/unit/accel/compute/accel_compute_gpu_agreement_test"
summary="$out/summary.txt"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }
failed=0  # set when a check fails; the script's exit status

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv,noheader 2>&1 | tee "$out/nvidia-smi.txt"

echo "== accel devices"
"$bin" accel devices 2>&1 | tee "$out/devices.txt"
note "devices: $(head -1 "$out/devices.txt")"

echo "== agreement test"
"$agreement" 2>&1 | tail -15 | tee "$out/agreement.txt"
agreement_status=${PIPESTATUS[0]}
note "agreement test: exit $agreement_status"
[ "$agreement_status" -eq 0 ] || failed=1
if command -v compute-sanitizer >/dev/null; then
  compute-sanitizer --tool memcheck --leak-check no "$agreement" >"$out/memcheck.txt" 2>&1
  memcheck_status=$?
  note "agreement test under memcheck: exit $memcheck_status ($(grep -c 'Invalid\|ERROR SUMMARY: [1-9]' "$out/memcheck.txt") error lines)"
  [ "$memcheck_status" -eq 0 ] || failed=1
  tail -3 "$out/memcheck.txt"
fi

echo "== accel bench"
for type in $types; do
  "$bin" accel bench --shape llama-3.2-1b --type "$type" --device cuda --batches 1,2,4,8,16,64 --steps 20 \
    >"$out/bench-$type.txt" 2>&1
  bench_status=$?
  note "bench $type: exit $bench_status"
  [ "$bench_status" -eq 0 ] || failed=1
  cat "$out/bench-$type.txt" | tee -a "$summary"
done

if command -v ncu >/dev/null; then
  echo "== per-kernel times of batch-1 decode steps (ncu; kernels serialised, so only their own durations count)"
  for type in ${NCU_TYPES:-bf16}; do
  note "-- $type"
  ncu --launch-skip 300 --launch-count 110 --metrics gpu__time_duration.sum,dram__bytes_read.sum \
    "$bin" accel bench --shape llama-3.2-1b --type "$type" --device cuda --prefill 1 --batches 1 --steps 2 >"$out/ncu-$type.txt" 2>&1
  python3 - "$out/ncu-$type.txt" <<'EOF2' | tee -a "$summary"
import re, sys, collections
name, per = None, collections.defaultdict(lambda: [0, 0.0, 0.0])
for line in open(sys.argv[1]):
    m = re.match(r"\s+(?:void )?(?:\S+::)*?([a-z_0-9]+)(<[^(]*>)?\(.*?\((\d+), (\d+), 1\)x", line)
    if m and "Context" in line:
        name = m.group(1) + (m.group(2) or "") + f" grid {m.group(3)}x{m.group(4)}"
        per[name][0] += 1
    m = re.search(r"gpu__time_duration.sum\s+(\S+)\s+([\d.,]+)", line)
    if m and name:
        v = float(m.group(2).replace(",", "")); per[name][1] += v * {"us": 1, "ms": 1000, "ns": 0.001}.get(m.group(1), 1)
    m = re.search(r"dram__bytes_read.sum\s+(\S+)\s+([\d.,]+)", line)
    if m and name:
        v = float(m.group(2).replace(",", "")); per[name][2] += v * {"byte": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9}.get(m.group(1), 1)
print(f"{'kernel':70} {'count':>5} {'us total':>9} {'GB/s':>7}")
for k, (n, us, b) in sorted(per.items(), key=lambda kv: -kv[1][1]):
    print(f"{k[:70]:70} {n:5d} {us:9.1f} {b / (us * 1e-6) / 1e9 if us else 0:7.0f}")
EOF2
  done
fi

trace_lib="$build/tests/bench/libkernel_trace.so"
if [ -f "$trace_lib" ]; then
  echo "== timeline of batch-1 decode steps (CUPTI: each kernel's own start and end inside the replayed graph)"
  for type in ${TIMELINE_TYPES:-bf16 q8_0}; do
    note "-- $type"
    CUDA_INJECTION64_PATH="$trace_lib" KERNEL_TRACE="$out/timeline-$type.txt" \
      "$bin" accel bench --shape llama-3.2-1b --type "$type" --device cuda --batches 1 --steps 10 >/dev/null 2>&1
    python3 "$root/tests/bench/gpu/kernel_timeline.py" "$out/timeline-$type.txt" >"$out/timeline-$type-steps.txt" 2>&1
    timeline_status=$?
    [ "$timeline_status" -eq 0 ] || failed=1
    head -1 "$out/timeline-$type-steps.txt" | tee -a "$summary"
    sed -n '/^kernel class/,$p' "$out/timeline-$type-steps.txt" | tee -a "$summary"
  done
fi

echo "== quickstart gateway on the GPU"
work="$(mktemp -d)"
mkdir -p "$work/models"
"$bin" model make-demo "$work/models/demo.gguf" >/dev/null
"$bin" keys init --dir "$work/keys" >/dev/null
sed -e "s#../../var/models/demo.gguf#$work/models/demo.gguf#" -e "s#../../var/audit#$work/audit#" \
    -e "s#../../var/keys#$work/keys#g" -e "s#^policy: policy.yaml#policy: $root/examples/quickstart/policy.yaml#" \
    "$root/examples/quickstart/gateway.yaml" >"$work/gateway.yaml"
"$bin" serve --config "$work/gateway.yaml" >"$out/serve.log" 2>&1 &
server=$!
python3 - "$summary" <<'EOF' || failed=1
import json, sys, threading, time, urllib.request
summary = open(sys.argv[1], "a")
def say(line):
    print(line); summary.write(line + "\n"); summary.flush()
base = "http://127.0.0.1:8080"
headers = {"Authorization": "Bearer sk-quickstart-demo", "Content-Type": "application/json"}
for _ in range(300):
    try:
        urllib.request.urlopen(base + "/v1/models", timeout=2) ; break
    except urllib.error.HTTPError:
        break
    except Exception:
        time.sleep(0.2)
def complete(stream, n=32):
    body = {"model": "demo", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": n,
            "temperature": 0.7, "seed": 5, "stream": stream}
    req = urllib.request.Request(base + "/v1/chat/completions", json.dumps(body).encode(), headers)
    start = time.time()
    with urllib.request.urlopen(req, timeout=60) as r:
        data = r.read().decode()
    return time.time() - start, data
seconds, data = complete(False)
answer = json.loads(data)
say(f"served completion: {seconds*1000:.0f} ms, usage {answer.get('usage')}, finish {answer['choices'][0].get('finish_reason')}")
seconds, data = complete(True)
events = [l for l in data.splitlines() if l.startswith("data: ")]
say(f"streamed completion: {seconds*1000:.0f} ms, {len(events)} events, ends with {events[-1] if events else None}")
results = []
def worker():
    try:
        results.append(complete(False, 64)[0])
    except Exception as e:
        results.append(e)
threads = [threading.Thread(target=worker) for _ in range(32)]
start = time.time()
for t in threads: t.start()
for t in threads: t.join()
ok = [r for r in results if isinstance(r, float)]
say(f"32 concurrent completions of 64 tokens: {len(ok)} ok in {time.time()-start:.2f} s; errors: {[str(r) for r in results if not isinstance(r, float)][:3]}")
metrics = urllib.request.urlopen("http://127.0.0.1:9090/metrics", timeout=5).read().decode()
for line in metrics.splitlines():
    if line.startswith(("sovereign_engine_batch", "sovereign_engine_gpu", "sovereign_engine_tokens")) and "bucket" not in line:
        say("metric: " + line)
sys.exit(0 if len(ok) == len(threads) else 1)
EOF
kill "$server"; wait "$server" 2>/dev/null
grep -v "\"type\":\"access\"" "$out/serve.log" | head -3 | tee -a "$summary"

echo
echo "== summary"
cat "$summary"
exit "$failed"
