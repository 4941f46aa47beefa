#!/usr/bin/env python3
"""Time torch.nn.functional.scaled_dot_product_attention with each SDPA backend
over FlashAttention's standard benchmark sweep, and write JSON + CSV in the
shared result schema (see README.md in this folder).

Sweep (defaults, as in FlashAttention's benchmarks): hidden 2048, heads = 2048/headdim,
batch*seqlen = 16384 tokens, seqlen 512..16384, headdim 64 and 128, causal off and on,
passes fwd, fwd_bwd and bwd.

Timing: CUDA events around each call, after at least --warmup calls and --warmup-ms
of wall time of warm-up calls, median of --repeats calls; the calls rotate over 3 independent random input sets (torch.randn).
  fwd      one forward call, under torch.no_grad()
  fwd_bwd  forward + torch.autograd.grad(out, (q, k, v), dO)
  bwd      the backward alone: the same loop as fwd_bwd with a third event recorded
           between forward and backward (the forward runs, then the event, then the
           backward); the bwd time is that event to the end event.
FLOPs: fwd = 4*B*N^2*H*d (halved when causal); bwd = 2.5x fwd; fwd_bwd = 3.5x fwd.

Peak memory: a separate single call after timing, torch.cuda.reset_peak_memory_stats()
before, torch.cuda.max_memory_allocated() after, minus torch.cuda.memory_allocated()
just before the call (which holds the inputs): so it counts what one call allocates
beyond its live inputs (q, k, v, and dO for the passes with a backward): the output,
LSE, workspaces, and for fwd_bwd/bwd the saved tensors and dq, dk, dv.
"""
import argparse
import csv
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = {
    "flash": ("torch-flash", SDPBackend.FLASH_ATTENTION),
    "cudnn": ("torch-cudnn", SDPBackend.CUDNN_ATTENTION),
    "efficient": ("torch-efficient", SDPBackend.EFFICIENT_ATTENTION),
    "math": ("torch-math", SDPBackend.MATH),
}
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
PASSES = ("fwd", "fwd_bwd", "bwd")
FLOP_FACTOR = {"fwd": 1.0, "bwd": 2.5, "fwd_bwd": 3.5}
N_INPUT_SETS = 3
CSV_FIELDS = ["impl", "pass", "dtype", "batch", "seqlen", "heads", "headdim", "causal",
              "median_ms", "tflops", "peak_mem_bytes", "runs", "status",
              "min_ms", "max_ms", "device"]
PEAK_MEM_COUNTS = ("bytes allocated by one call beyond its live inputs (q, k, v; plus dO for passes "
                   "with a backward): output, LSE, workspaces, and for fwd_bwd/bwd the saved tensors "
                   "and dq, dk, dv; torch.cuda.max_memory_allocated() after minus memory_allocated() "
                   "before, with reset_peak_memory_stats() before. For 'bwd' it is the same figure as fwd_bwd.")


def csv_list(s, conv=str):
    return [conv(x.strip()) for x in s.split(",") if x.strip()]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dtype", default="float16", help="comma list of float16,bfloat16 (float32 also accepted; flash/cudnn reject it)")
    p.add_argument("--seqlens", default="512,1024,2048,4096,8192,16384", help="comma list")
    p.add_argument("--headdims", default="64,128", help="comma list")
    p.add_argument("--causal", choices=("both", "yes", "no"), default="both")
    p.add_argument("--passes", default="fwd,fwd_bwd,bwd", help="comma list of fwd,fwd_bwd,bwd")
    p.add_argument("--backends", default="flash,cudnn,efficient,math", help="comma list of flash,cudnn,efficient,math")
    p.add_argument("--repeats", type=int, default=30, help="timed calls per configuration (median reported)")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls before timing (at least)")
    p.add_argument("--warmup-ms", type=float, default=250.0,
                   help="and keep warming up until this much wall time has passed (default 250 ms): after a "
                        "burst of heavy work an H100 runs ~40%% slower for ~0.15 s, so a count alone is not enough")
    p.add_argument("--hidden", type=int, default=2048, help="heads = hidden / headdim")
    p.add_argument("--tokens", type=int, default=16384, help="batch = tokens / seqlen")
    p.add_argument("--math-max-seqlen", type=int, default=4096,
                   help="skip the math backend above this seqlen (status 'skipped'); 0 = never skip")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gpu-warmup-s", type=float, default=0.0,
                   help="seconds of matrix products before the sweep (default 0: on an H100 this made the next "
                        "~0.15 s of attention calls ~40%% slower; the per-configuration --warmup-ms covers it)")
    p.add_argument("--out-json", default="torch_sdpa.json")
    p.add_argument("--out-csv", default=None, help="default: --out-json with .csv")
    p.add_argument("--device", default="cuda")
    a = p.parse_args(argv)
    a.dtypes = csv_list(a.dtype)
    for d in a.dtypes:
        if d not in DTYPES:
            p.error("unknown dtype %r" % d)
    a.seqlen_list = csv_list(a.seqlens, int)
    a.headdim_list = csv_list(a.headdims, int)
    a.pass_list = csv_list(a.passes)
    for x in a.pass_list:
        if x not in PASSES:
            p.error("unknown pass %r (want %s)" % (x, ",".join(PASSES)))
    a.backend_list = csv_list(a.backends)
    for x in a.backend_list:
        if x not in BACKENDS:
            p.error("unknown backend %r (want %s)" % (x, ",".join(BACKENDS)))
    a.causal_list = {"both": [False, True], "yes": [True], "no": [False]}[a.causal]
    if a.repeats < 1 or a.warmup < 0:
        p.error("--repeats must be >= 1 and --warmup >= 0")
    if a.out_csv is None:
        a.out_csv = os.path.splitext(a.out_json)[0] + ".csv"
    return a


def driver_version():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        v = out.stdout.strip().splitlines()
        if out.returncode == 0 and v:
            return v[0].strip()
    except Exception:
        pass
    try:
        v = torch._C._cuda_getDriverVersion()  # CUDA driver API version, e.g. 13000
        return "cuda-driver-api %d.%d" % (v // 1000, (v % 1000) // 10)
    except Exception:
        return "unknown"


def short_error(e, limit=160):
    msg = " ".join(str(e).split())
    # torch's "No available kernel" message is preceded by long warnings; keep the gist.
    if len(msg) > limit:
        msg = msg[:limit] + "..."
    return msg


def classify_error(e):
    if isinstance(e, torch.cuda.OutOfMemoryError):
        return "oom"
    msg = str(e)
    low = msg.lower()
    if "out of memory" in low:
        return "oom"
    if "no available kernel" in low or "not supported" in low or "unsupported" in low:
        return "unsupported"
    return "error: " + short_error(e)


def flops_fwd(batch, seqlen, heads, headdim, causal):
    f = 4.0 * batch * seqlen * seqlen * heads * headdim
    return f / 2.0 if causal else f


def make_inputs(batch, heads, seqlen, headdim, dtype, device, need_grad):
    sets = []
    for _ in range(N_INPUT_SETS):
        q, k, v, do = (torch.randn(batch, heads, seqlen, headdim, device=device, dtype=dtype) for _ in range(4))
        if need_grad:
            q.requires_grad_(True)
            k.requires_grad_(True)
            v.requires_grad_(True)
        sets.append((q, k, v, do))
    return sets


def sdpa(q, k, v, causal):
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def run_fwd(s, causal):
    q, k, v, _ = s
    with torch.no_grad():
        return sdpa(q, k, v, causal)


def run_fwd_bwd(s, causal, mid_event=None):
    q, k, v, do = s
    with torch.enable_grad():
        out = sdpa(q, k, v, causal)
        if mid_event is not None:
            mid_event.record()
        grads = torch.autograd.grad(out, (q, k, v), do)
    return out, grads


def warm_up(fn, sets, warmup, warmup_ms):
    """At least `warmup` calls, and calls until `warmup_ms` of wall time have passed."""
    t0 = time.perf_counter()
    i = 0
    while i < warmup or (time.perf_counter() - t0) * 1e3 < warmup_ms:
        r = fn(sets[i % len(sets)])
        del r
        i += 1
        if i % 4 == 0:
            torch.cuda.synchronize()  # keep wall time close to GPU time
    torch.cuda.synchronize()
    return i


def time_fwd(sets, causal, warmup, repeats, warmup_ms=0.0):
    warm_up(lambda s: run_fwd(s, causal), sets, warmup, warmup_ms)
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(repeats)]
    for i in range(repeats):
        s = sets[i % len(sets)]
        ev[i][0].record()
        out = run_fwd(s, causal)
        ev[i][1].record()
        del out
    torch.cuda.synchronize()
    return [a.elapsed_time(b) for a, b in ev]


def time_fwd_bwd(sets, causal, warmup, repeats, warmup_ms=0.0):
    """Returns (fwd_bwd_ms list, bwd_ms list) from the same calls."""
    warm_up(lambda s: run_fwd_bwd(s, causal), sets, warmup, warmup_ms)
    ev = [tuple(torch.cuda.Event(enable_timing=True) for _ in range(3)) for _ in range(repeats)]
    for i in range(repeats):
        s = sets[i % len(sets)]
        e0, e1, e2 = ev[i]
        e0.record()
        out, grads = run_fwd_bwd(s, causal, mid_event=e1)
        e2.record()
        del out, grads
    torch.cuda.synchronize()
    return [a.elapsed_time(c) for a, b, c in ev], [b.elapsed_time(c) for a, b, c in ev]


def gpu_warmup(seconds, device):
    if seconds <= 0:
        return
    x = torch.randn(4096, 4096, device=device, dtype=torch.float16)
    t0 = time.time()
    while time.time() - t0 < seconds:
        for _ in range(20):
            y = x @ x
        torch.cuda.synchronize()
    del x, y
    torch.cuda.empty_cache()


def peak_mem(fn):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    r = fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    del r
    return int(peak)


def result_row(impl, pas, dtype, batch, seqlen, heads, headdim, causal, status,
               times=None, peak=None, fwd_flops=None, device_name=""):
    row = {"impl": impl, "pass": pas, "dtype": dtype, "batch": batch, "seqlen": seqlen, "heads": heads,
           "headdim": headdim, "causal": causal, "median_ms": None, "tflops": None,
           "peak_mem_bytes": peak, "runs": 0, "status": status, "min_ms": None, "max_ms": None}
    if times:
        med = statistics.median(times)
        row["median_ms"] = round(med, 5)
        row["min_ms"] = round(min(times), 5)
        row["max_ms"] = round(max(times), 5)
        row["runs"] = len(times)
        if med > 0 and fwd_flops is not None:
            row["tflops"] = round(FLOP_FACTOR[pas] * fwd_flops / (med * 1e-3) / 1e12, 3)
    return row


def fmt_row(r):
    t = "%8.3f ms %7.1f TFLOPs" % (r["median_ms"], r["tflops"]) if r["median_ms"] is not None else "%26s" % ""
    m = " peak %8.1f MiB" % (r["peak_mem_bytes"] / 2**20) if r["peak_mem_bytes"] is not None else ""
    return "%-16s %-7s %-8s B=%-3d N=%-5d H=%-3d d=%-3d causal=%-5s %s%s  %s" % (
        r["impl"], r["pass"], r["dtype"], r["batch"], r["seqlen"], r["heads"], r["headdim"],
        r["causal"], t, m, r["status"])


def bench_config(impl, backend, dtype_name, batch, seqlen, heads, headdim, causal, passes, sets, a, dev_name):
    """All requested passes for one (backend, shape, causal). Returns list of result rows."""
    rows = []
    fl = flops_fwd(batch, seqlen, heads, headdim, causal)
    common = dict(dtype=dtype_name, batch=batch, seqlen=seqlen, heads=heads, headdim=headdim, causal=causal)

    def fail_all(status, which):
        for pas in which:
            rows.append(result_row(impl, pas, status=status, **common))

    if backend == SDPBackend.MATH and a.math_max_seqlen > 0 and seqlen > a.math_max_seqlen:
        fail_all("skipped", passes)
        return rows

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with sdpa_kernel(backend):
            if "fwd" in passes:
                try:
                    times = time_fwd(sets, causal, a.warmup, a.repeats, a.warmup_ms)
                    peak = peak_mem(lambda: run_fwd(sets[0], causal))
                    rows.append(result_row(impl, "fwd", status="ok", times=times, peak=peak, fwd_flops=fl, **common))
                except RuntimeError as e:  # OutOfMemoryError is a RuntimeError
                    rows.append(result_row(impl, "fwd", status=classify_error(e), **common))
                    torch.cuda.synchronize()
                    torch.cuda.empty_cache()
            bw = [p for p in ("fwd_bwd", "bwd") if p in passes]
            if bw:
                try:
                    t_fb, t_b = time_fwd_bwd(sets, causal, a.warmup, a.repeats, a.warmup_ms)
                    peak = peak_mem(lambda: run_fwd_bwd(sets[0], causal))
                    for pas in bw:
                        rows.append(result_row(impl, pas, status="ok", times=t_fb if pas == "fwd_bwd" else t_b,
                                               peak=peak, fwd_flops=fl, **common))
                except RuntimeError as e:
                    fail_all(classify_error(e), bw)
                    torch.cuda.synchronize()
                    torch.cuda.empty_cache()
    return rows


def write_outputs(a, meta, rows):
    doc = dict(meta)
    doc["results"] = rows
    d = os.path.dirname(os.path.abspath(a.out_json))
    os.makedirs(d, exist_ok=True)
    tmp = a.out_json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, a.out_json)
    os.makedirs(os.path.dirname(os.path.abspath(a.out_csv)), exist_ok=True)
    with open(a.out_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            rr = dict(r)
            rr["device"] = meta["device"]
            rr = {k: ("" if v is None else v) for k, v in rr.items()}
            w.writerow(rr)


def main(argv=None):
    a = parse_args(argv)
    if not torch.cuda.is_available():
        print("torch_sdpa.py: CUDA is not available", file=sys.stderr)
        return 2
    dev = torch.device(a.device)
    if dev.type != "cuda":
        print("torch_sdpa.py: --device must be a CUDA device", file=sys.stderr)
        return 2
    if dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    torch.cuda.set_device(dev)
    torch.manual_seed(a.seed)
    dev_name = torch.cuda.get_device_name(dev)
    meta = {
        "tool": "torch_sdpa",
        "device": dev_name,
        "driver": driver_version(),
        "cuda": torch.version.cuda,
        "torch": torch.__version__,
        "cudnn": str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "timing": ("CUDA events around each call, median of `runs` calls after at least `warmup` calls and "
                   "`warmup_ms` ms of warm-up; %d rotating random input sets (torch.randn)" % N_INPUT_SETS),
        "flops": "fwd 4*B*N^2*H*d (halved if causal); bwd 2.5x; fwd_bwd 3.5x",
        "peak_mem_counts": PEAK_MEM_COUNTS,
        "layout": "[B, H, N, d] (torch SDPA)",
        "args": {k: v for k, v in vars(a).items() if k in ("dtype", "seqlens", "headdims", "causal", "passes",
                                                            "backends", "repeats", "warmup", "warmup_ms", "gpu_warmup_s",
                                                            "hidden", "tokens",
                                                            "math_max_seqlen", "seed")},
    }
    print("device: %s | driver %s | cuda %s | torch %s | cudnn %s" % (
        dev_name, meta["driver"], meta["cuda"], meta["torch"], meta["cudnn"]), flush=True)

    gpu_warmup(a.gpu_warmup_s, dev)
    need_grad = any(p in a.pass_list for p in ("fwd_bwd", "bwd"))
    rows = []
    t_start = time.time()
    for dtype_name in a.dtypes:
        dtype = DTYPES[dtype_name]
        for headdim in a.headdim_list:
            if a.hidden % headdim:
                print("skip headdim %d: hidden %d not a multiple" % (headdim, a.hidden), file=sys.stderr)
                continue
            heads = a.hidden // headdim
            for seqlen in a.seqlen_list:
                batch = max(1, a.tokens // seqlen)
                try:
                    sets = make_inputs(batch, heads, seqlen, headdim, dtype, dev, need_grad)
                except RuntimeError as e:
                    st = classify_error(e)
                    for causal in a.causal_list:
                        for b in a.backend_list:
                            for pas in a.pass_list:
                                r = result_row(BACKENDS[b][0], pas, dtype_name, batch, seqlen, heads, headdim,
                                               causal, "inputs " + st)
                                rows.append(r)
                                print(fmt_row(r), flush=True)
                    torch.cuda.empty_cache()
                    continue
                for causal in a.causal_list:
                    for b in a.backend_list:
                        impl, backend = BACKENDS[b]
                        new = bench_config(impl, backend, dtype_name, batch, seqlen, heads, headdim, causal,
                                           a.pass_list, sets, a, dev_name)
                        for r in new:
                            print(fmt_row(r), flush=True)
                        rows.extend(new)
                        write_outputs(a, meta, rows)  # keep partial results if killed
                del sets
                torch.cuda.empty_cache()
    write_outputs(a, meta, rows)
    n_ok = sum(1 for r in rows if r["status"] == "ok")
    print("torch_sdpa.py: %d results (%d ok) in %.1f s -> %s, %s" % (
        len(rows), n_ok, time.time() - t_start, a.out_json, a.out_csv), flush=True)
    return 0 if n_ok > 0 or not rows else 1


if __name__ == "__main__":
    sys.exit(main())
