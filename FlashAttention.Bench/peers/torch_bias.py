#!/usr/bin/env python3
"""torch SDPA with and without an additive float bias (attn_mask of the query's dtype, [1, H, N, N], broadcast over
the batch), per backend: the peer for `bench --kernels tc,tc+bias16` (same shapes: batch = tokens / seqlen,
heads = hidden / headdim). Times the forward with CUDA events after warm-up, median of --repeats calls, two input
sets alternated (fresh random values, never zeros). Prints one line per row and writes --out-json.
"""
import argparse
import json
import statistics

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = {"cudnn": SDPBackend.CUDNN_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION}


def time_ms(fn, repeats, warmup):
    for _ in range(warmup):
        fn(0)
    torch.cuda.synchronize()
    times = []
    for i in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(i)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--headdims", default="64,128")
    p.add_argument("--seqlen", type=int, default=8192)
    p.add_argument("--tokens", type=int, default=16384)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--dtype", default="float16")
    p.add_argument("--backends", default="cudnn,efficient,flash")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--out-json", default="torch_bias.json")
    a = p.parse_args()
    dtype = getattr(torch, a.dtype)
    n, batch = a.seqlen, a.tokens // a.seqlen
    rows = []
    for d in (int(x) for x in a.headdims.split(",")):
        h = a.hidden // d
        g = torch.Generator(device="cuda").manual_seed(d)
        sets = [[torch.randn(batch, h, n, d, device="cuda", dtype=dtype, generator=g) for _ in range(3)] for _ in range(2)]
        bias = (torch.rand(1, h, n, n, device="cuda", dtype=torch.float32, generator=g) * 2 - 1).to(dtype)
        for name in a.backends.split(","):
            for with_bias in (False, True):
                mask = bias if with_bias else None
                try:
                    with sdpa_kernel(BACKENDS[name]):
                        ms = time_ms(lambda i: torch.nn.functional.scaled_dot_product_attention(*sets[i % 2], attn_mask=mask), a.repeats, a.warmup)
                    status = "ok"
                except Exception as e:  # a backend that refuses the bias (flash) or the shape
                    ms, status = float("nan"), f"error: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
                row = dict(impl=f"torch-{name}", bias=with_bias, bias_bytes=bias.numel() * bias.element_size() if with_bias else 0,
                           batch=batch, seqlen=n, heads=h, headdim=d, dtype=a.dtype, median_ms=ms, status=status)
                rows.append(row)
                print(f"{row['impl']} d{d} bias={with_bias} {ms:.3f} ms {status}", flush=True)
        del sets, bias
        torch.cuda.empty_cache()
    json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "results": rows}, open(a.out_json, "w"), indent=1)


if __name__ == "__main__":
    main()
