#!/usr/bin/env python3
"""Write random attention inputs as .npy files for `FlashAttention.Bench verify`.

Files written to --out DIR, each in the layout [batch, seqlen, heads, headdim]:
  q.npy   [B, Nq, H,    d]
  k.npy   [B, Nk, Hkv,  d]
  v.npy   [B, Nk, Hkv,  d]
  do.npy  [B, Nq, H,    d]   (upstream gradient dO; leave out with --no-do)
  meta.json                  (shapes, dtype, seed, and how bfloat16 is stored)

Values are standard-normal (numpy's default_rng(seed).standard_normal, drawn in
float32 and then rounded to --dtype). float16 and float32 are stored as such;
bfloat16 is stored as uint16 holding the raw bfloat16 bits (round to nearest
even from float32), because .npy has no bfloat16 type.

Needs numpy only.
"""
import argparse
import json
import os
import sys

import numpy as np

DTYPES = ("float32", "float16", "bfloat16")


def float32_to_bf16_bits(x):
    """float32 array -> uint16 array of bfloat16 bits, round to nearest even (NaN kept NaN)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    bits = x.view(np.uint32).astype(np.uint64)
    rounding = ((bits >> 16) & 1) + 0x7FFF
    out = ((bits + rounding) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        out[nan] = 0x7FC0
    return out


def bf16_bits_to_float32(b):
    """uint16 array of bfloat16 bits -> float32 array (exact)."""
    b = np.ascontiguousarray(b, dtype=np.uint16)
    return (b.astype(np.uint32) << 16).view(np.float32)


def to_storage(x32, dtype):
    """Round a float32 array to `dtype` and return the array as it is stored in .npy."""
    if dtype == "float32":
        return x32.astype(np.float32)
    if dtype == "float16":
        return x32.astype(np.float16)
    if dtype == "bfloat16":
        return float32_to_bf16_bits(x32)
    raise ValueError("unknown dtype " + dtype)


def load_as_float32(path, dtype_hint=None):
    """Load a .npy written by this script (or by our program) as float32.

    uint16 arrays are read as bfloat16 bits. Returns (array_float32, stored_dtype_name).
    """
    a = np.load(path)
    if a.dtype == np.uint16:
        return bf16_bits_to_float32(a), "bfloat16"
    if a.dtype == np.float16:
        return a.astype(np.float32), "float16"
    if a.dtype == np.float32:
        return a, "float32"
    if a.dtype == np.float64:
        return a.astype(np.float32), "float64"
    raise ValueError("%s: unsupported dtype %s" % (path, a.dtype))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seqlen", type=int, default=1024, help="query length Nq")
    p.add_argument("--seqlen-k", type=int, default=None, help="key/value length Nk (default: = --seqlen)")
    p.add_argument("--heads", type=int, default=16, help="query heads H")
    p.add_argument("--heads-kv", type=int, default=None, help="key/value heads Hkv for GQA/MQA (default: = --heads); must divide --heads")
    p.add_argument("--headdim", type=int, default=128)
    p.add_argument("--dtype", choices=DTYPES, default="float16")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--std", type=float, default=1.0, help="standard deviation of the values (default 1)")
    p.add_argument("--no-do", action="store_true", help="do not write do.npy")
    a = p.parse_args(argv)

    nk = a.seqlen if a.seqlen_k is None else a.seqlen_k
    hkv = a.heads if a.heads_kv is None else a.heads_kv
    for name, val in (("batch", a.batch), ("seqlen", a.seqlen), ("seqlen-k", nk), ("heads", a.heads),
                      ("heads-kv", hkv), ("headdim", a.headdim)):
        if val <= 0:
            p.error("--%s must be positive" % name)
    if a.heads % hkv != 0:
        p.error("--heads (%d) must be a multiple of --heads-kv (%d)" % (a.heads, hkv))

    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    shapes = {
        "q": (a.batch, a.seqlen, a.heads, a.headdim),
        "k": (a.batch, nk, hkv, a.headdim),
        "v": (a.batch, nk, hkv, a.headdim),
    }
    if not a.no_do:
        shapes["do"] = (a.batch, a.seqlen, a.heads, a.headdim)

    files = {}
    for name, shape in shapes.items():
        x = rng.standard_normal(shape, dtype=np.float32) * np.float32(a.std)
        stored = to_storage(x, a.dtype)
        path = os.path.join(a.out, name + ".npy")
        np.save(path, stored)
        files[name] = {"path": os.path.abspath(path), "shape": list(shape), "npy_dtype": str(stored.dtype)}

    meta = {
        "layout": "[batch, seqlen, heads, headdim]",
        "batch": a.batch, "seqlen_q": a.seqlen, "seqlen_k": nk, "heads": a.heads, "heads_kv": hkv,
        "headdim": a.headdim, "dtype": a.dtype, "seed": a.seed, "std": a.std,
        "bfloat16_storage": "uint16 raw bits (round to nearest even)",
        "files": files,
    }
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print("wrote %s: q%s k%s v%s%s %s seed=%d" % (
        a.out, list(shapes["q"]), list(shapes["k"]), list(shapes["v"]),
        "" if a.no_do else " do%s" % list(shapes["do"]), a.dtype, a.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
