#!/usr/bin/env python3
"""Time torch.nn.functional.scaled_dot_product_attention on decode shapes (one query row
against a long key/value cache) with the flash, cuDNN and efficient backends, and write JSON +
CSV in the schema of `FlashAttention.Bench decode` (see README.md in this folder).

Shapes (defaults, as the decode bench): q [B, 32, 1, 128], k/v [B, 8, S, 128] (torch's
[batch, heads, seqlen, headdim]), fp16, B in 1,2,4,8, S in 8K..64K, not causal (one query row
sees every key; torch's causal mask is aligned top-left, which would hide all keys but one).
GQA: enable_gqa=True where the backend takes it ("gqa": "native"); where it refuses, k/v are
expanded to 32 heads once, outside the timed region ("gqa": "expanded": the kernel then reads 4x
the bytes, which the GB/s column does not credit).

Timing: CUDA events around each call, after --warmup calls and --warmup-ms of warm-up, median
of --repeats calls rotating over --input-sets random input sets (torch.randn: non-zero), so a small
cache does not stay in L2; a torch.cuda._sleep enqueued first keeps the launch overhead out of the
events (as ours does with a spin kernel). GB/s = (K + V bytes of the cache + q + o bytes) / time, the same count
as ours; % copy = GB/s over the device-to-device copy bandwidth (dst.copy_(src) of --copy-mib MiB,
2 x bytes / time) measured in the same run.
"""
import argparse
import csv
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

FIELDS = ["impl", "dtype", "batch", "cache_len", "heads_q", "heads_kv", "headdim", "seqlen_q", "page_size", "splits",
          "median_ms", "min_ms", "gbps", "pct_copy", "bytes", "runs", "status", "gqa"]
BACKEND_NAMES = ("flash", "cudnn", "efficient", "math")


def csv_list(s, conv=str):
    return [conv(x.strip()) for x in s.split(",") if x.strip()]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dtype", default="float16", choices=("float16", "bfloat16", "float32"))
    p.add_argument("--batches", default="1,2,4,8")
    p.add_argument("--cache-lens", default="8192,16384,32768,65536")
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--heads-kv", type=int, default=8)
    p.add_argument("--headdim", type=int, default=128)
    p.add_argument("--seqlen-q", type=int, default=1)
    p.add_argument("--backends", default="flash,cudnn,efficient", help="comma list of " + ",".join(BACKEND_NAMES))
    p.add_argument("--gqa", default="auto", choices=("auto", "native", "expand"),
                   help="auto: enable_gqa=True, expanded k/v if the backend refuses it")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--warmup-ms", type=float, default=250.0)
    p.add_argument("--input-sets", type=int, default=3)
    p.add_argument("--copy-mib", type=int, default=1024)
    p.add_argument("--queue-ahead-ms", type=float, default=20.0,
                   help="torch.cuda._sleep before the timed calls, so Python's launch overhead stays out of the events "
                        "(a decode call takes tens of microseconds, about what launching it costs); 0 = none")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda")
    p.add_argument("--out-json", default="torch_decode.json")
    p.add_argument("--out-csv", default=None, help="default: --out-json with .csv")
    a = p.parse_args(argv)
    a.batch_list = csv_list(a.batches, int)
    a.len_list = csv_list(a.cache_lens, int)
    a.backend_list = csv_list(a.backends)
    for b in a.backend_list:
        if b not in BACKEND_NAMES:
            p.error("unknown backend %r (want %s)" % (b, ",".join(BACKEND_NAMES)))
    if a.heads % a.heads_kv != 0:
        p.error("--heads must be a multiple of --heads-kv")
    if a.repeats < 1 or a.warmup < 0 or a.input_sets < 1:
        p.error("--repeats and --input-sets must be >= 1, --warmup >= 0")
    if a.out_csv is None:
        a.out_csv = os.path.splitext(a.out_json)[0] + ".csv"
    return a


def bytes_moved(a, batch, cache_len, elem):
    return 2 * batch * cache_len * a.heads_kv * a.headdim * elem + 2 * batch * a.seqlen_q * a.heads * a.headdim * elem


def driver_version():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    except Exception:
        pass
    return "unknown"


def classify_error(torch, e):
    if isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e).lower():
        return "oom"
    msg = " ".join(str(e).split())
    low = msg.lower()
    if "no available kernel" in low or "not supported" in low or "unsupported" in low:
        return "unsupported"
    return "error: " + (msg[:160] + "..." if len(msg) > 160 else msg)


def median_events(torch, fn, n):
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
    for i in range(n):
        ev[i][0].record()
        fn(i)
        ev[i][1].record()
    torch.cuda.synchronize()
    return [s.elapsed_time(e) for s, e in ev]


def queue_ahead(torch, ms):
    """Keeps the GPU busy for about `ms` while the timed calls are enqueued behind it."""
    if ms > 0 and hasattr(torch.cuda, "_sleep"):
        torch.cuda._sleep(int(ms * 1e-3 * 2e9))  # cycles at about 2 GHz


def copy_gbps(torch, a):
    n = (a.copy_mib << 20) // 4
    src = torch.ones(n, device=a.device, dtype=torch.float32)
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    torch.cuda.synchronize()
    times = median_events(torch, lambda i: dst.copy_(src), max(5, a.repeats // 2))
    del src, dst
    torch.cuda.empty_cache()
    return 2.0 * n * 4 / (statistics.median(times) * 1e-3) / 1e9


def main(argv):
    a = parse_args(argv)
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backends = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
                "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}
    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[a.dtype]
    elem = torch.tensor([], dtype=dtype).element_size()
    torch.manual_seed(a.seed)
    dev_name = torch.cuda.get_device_name()
    copy = copy_gbps(torch, a)
    print("torch %s on %s: device-to-device copy %.0f GB/s" % (torch.__version__, dev_name, copy), flush=True)
    meta = {"tool": "torch", "device": dev_name, "driver": driver_version(), "backend": "cuda", "torch": torch.__version__,
            "python": platform.python_version(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "copy_gbps": copy}
    rows = []
    group = a.heads // a.heads_kv
    for batch in a.batch_list:
        for n in a.len_list:
            try:
                sets = [(torch.randn(batch, a.heads, a.seqlen_q, a.headdim, device=a.device, dtype=dtype),
                         torch.randn(batch, a.heads_kv, n, a.headdim, device=a.device, dtype=dtype),
                         torch.randn(batch, a.heads_kv, n, a.headdim, device=a.device, dtype=dtype)) for _ in range(a.input_sets)]
            except Exception as e:
                for name in a.backend_list:
                    rows.append(row(a, "torch-" + name, batch, n, None, copy, bytes_moved(a, batch, n, elem), classify_error(torch, e), "-"))
                torch.cuda.empty_cache()
                continue
            for name in a.backend_list:
                rows.append(bench_one(torch, F, sdpa_kernel, backends[name], "torch-" + name, a, batch, n, sets, group, copy, elem))
                print(fmt(rows[-1]), flush=True)
                write(a, meta, rows)
            del sets
            torch.cuda.empty_cache()
    write(a, meta, rows)
    return 0 if all(r["status"] in ("ok", "unsupported") for r in rows) else 1


def bench_one(torch, F, sdpa_kernel, backend, impl, a, batch, n, sets, group, copy, elem):
    nbytes = bytes_moved(a, batch, n, elem)
    modes = {"auto": ("native", "expanded"), "native": ("native",), "expand": ("expanded",)}[a.gqa]
    status = "unsupported"
    for mode in modes:
        try:
            if mode == "native":
                inputs = sets
                call = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=False, enable_gqa=True)
            else:
                inputs = [(q, k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)) for q, k, v in sets]
                call = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with sdpa_kernel(backend), torch.no_grad():
                    t0 = time.perf_counter()
                    i = 0
                    while i < a.warmup or (time.perf_counter() - t0) * 1e3 < a.warmup_ms:
                        call(*inputs[i % len(inputs)])
                        i += 1
                        if i % 8 == 0:
                            torch.cuda.synchronize()
                    torch.cuda.synchronize()
                    queue_ahead(torch, a.queue_ahead_ms)
                    times = median_events(torch, lambda j: call(*inputs[j % len(inputs)]), a.repeats)
            del inputs
            return row(a, impl, batch, n, times, copy, nbytes, "ok", mode)
        except Exception as e:  # RuntimeError (no kernel, OOM), TypeError (enable_gqa before torch 2.5), ...
            status = classify_error(torch, e)
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            if status == "oom":
                break
    return row(a, impl, batch, n, None, copy, nbytes, status, "-")


def row(a, impl, batch, n, times, copy, nbytes, status, gqa):
    r = {"impl": impl, "dtype": a.dtype, "batch": batch, "cache_len": n, "heads_q": a.heads, "heads_kv": a.heads_kv,
         "headdim": a.headdim, "seqlen_q": a.seqlen_q, "page_size": 0, "splits": 0, "median_ms": None, "min_ms": None,
         "gbps": None, "pct_copy": None, "bytes": nbytes, "runs": 0, "status": status, "gqa": gqa}
    if times:
        med = statistics.median(times)
        r.update(median_ms=round(med, 5), min_ms=round(min(times), 5), runs=len(times))
        if med > 0:
            r["gbps"] = nbytes / (med * 1e-3) / 1e9
            r["pct_copy"] = 100.0 * r["gbps"] / copy
    return r


def fmt(r):
    t = "%9.4f ms %7.0f GB/s %5.1f %% of copy" % (r["median_ms"], r["gbps"], r["pct_copy"]) if r["median_ms"] else "%36s" % ""
    return "%-16s B=%-2d S=%-6d %s  gqa=%s  %s" % (r["impl"], r["batch"], r["cache_len"], t, r["gqa"], r["status"])


def write(a, meta, rows):
    doc = dict(meta)
    doc["results"] = rows
    os.makedirs(os.path.dirname(os.path.abspath(a.out_json)), exist_ok=True)
    tmp = a.out_json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, a.out_json)
    with open(a.out_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS + ["copy_gbps", "device"], extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(dict(r, copy_gbps=meta["copy_gbps"], device=meta["device"]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
