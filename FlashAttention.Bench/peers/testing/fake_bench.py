#!/usr/bin/env python3
"""Stand-in for the published `FlashAttention.Bench` program, to dry-run gpu_run.sh on a GPU
machine with torch but without our .NET build. NOT a benchmark of our code.

  fake_bench.py bench --out-json F --out-csv F [--seqlens ..] [--headdims ..] [--passes ..] [--causal ..]
      runs torch_sdpa.py with the flash backend and renames its impl to "flash-fake".
  fake_bench.py verify --q Q --k K --v V [--do DO] --out DIR [--device cuda] [--causal] [--scale S]
      writes o.npy (float16), lse.npy (float32) and, with --do, dq/dk/dv.npy (float16), computed in
      float32 by torch. FAKE_BREAK=1 adds an error of 0.05 to o (check_verify must then FAIL).
"""
import argparse
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def bench(argv):
    import torch_sdpa
    p = argparse.ArgumentParser()
    p.add_argument("--out-json", required=True)
    p.add_argument("--out-csv", required=True)
    a, rest = p.parse_known_args(argv)
    rc = torch_sdpa.main(["--backends", "flash", "--out-json", a.out_json, "--out-csv", a.out_csv] + rest)
    with open(a.out_json) as f:
        doc = json.load(f)
    doc["tool"] = "fake_bench"
    for r in doc["results"]:
        r["impl"] = "flash-fake"
    with open(a.out_json, "w") as f:
        json.dump(doc, f, indent=1)
    return rc


def verify(argv):
    import numpy as np
    import torch
    from make_inputs import load_as_float32
    p = argparse.ArgumentParser()
    p.add_argument("--q", required=True)
    p.add_argument("--k", required=True)
    p.add_argument("--v", required=True)
    p.add_argument("--do", default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--causal", action="store_true")
    p.add_argument("--scale", type=float, default=None)
    a = p.parse_args(argv)
    dev = torch.device("cuda" if a.device == "cuda" and torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = False
    q, k, v = (torch.from_numpy(load_as_float32(x)[0]).to(dev).requires_grad_(True) for x in (a.q, a.k, a.v))
    B, Nq, H, d = q.shape
    Nk, Hkv = k.shape[1], k.shape[2]
    scale = a.scale or 1.0 / math.sqrt(d)
    qh = q.permute(0, 2, 1, 3)
    kh = k.permute(0, 2, 1, 3).repeat_interleave(H // Hkv, dim=1)
    vh = v.permute(0, 2, 1, 3).repeat_interleave(H // Hkv, dim=1)
    s = qh @ kh.transpose(-1, -2) * scale
    if a.causal:
        i = torch.arange(Nq, device=dev).view(-1, 1)
        j = torch.arange(Nk, device=dev).view(1, -1)
        s = s.masked_fill(j > i + Nk - Nq, float("-inf"))
    lse = torch.logsumexp(s, -1)
    o = (torch.softmax(s, -1) @ vh).permute(0, 2, 1, 3)
    os.makedirs(a.out, exist_ok=True)
    o_np = o.detach().cpu().numpy()
    if os.environ.get("FAKE_BREAK") == "1":
        o_np = o_np + 0.05
    np.save(os.path.join(a.out, "o.npy"), o_np.astype(np.float16))
    np.save(os.path.join(a.out, "lse.npy"), lse.detach().cpu().numpy().astype(np.float32))
    if a.do:
        do = torch.from_numpy(load_as_float32(a.do)[0]).to(dev)
        grads = torch.autograd.grad(o, (q, k, v), do)
        for n, g in zip(("dq", "dk", "dv"), grads):
            np.save(os.path.join(a.out, n + ".npy"), g.cpu().numpy().astype(np.float16))
    print("fake verify: wrote", sorted(os.listdir(a.out)))
    return 0


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("bench", "verify"):
        print(__doc__)
        return 2
    if "--help" in sys.argv[2:]:
        print(__doc__)
        return 0
    return bench(sys.argv[2:]) if sys.argv[1] == "bench" else verify(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
