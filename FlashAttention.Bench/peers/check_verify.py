#!/usr/bin/env python3
"""Check the tensors written by `FlashAttention.Bench verify` against a torch reference,
the way FlashAttention's own tests do.

Reads (layout [batch, seqlen, heads, headdim], as written by make_inputs.py):
  --inputs DIR : q.npy, k.npy, v.npy, and do.npy (needed only to check gradients)
  --outputs DIR: o.npy [B, Nq, H, d], lse.npy [B, H, Nq], and if present dq.npy [B, Nq, H, d],
                 dk.npy, dv.npy [B, Nk, Hkv, d]
Any .npy may be float32, float16, float64, or uint16 (= raw bfloat16 bits).

Reference ("ref"): in float32 (float64 when the inputs are float32), on the GPU, the plain
  S = Q K^T * scale, masked when --causal (bottom-right aligned: query i sees key j iff
  j <= i + Nk - Nq), O = softmax(S) V, LSE = logsumexp(S) over the keys, [B, H, Nq];
  GQA by repeat_interleave of the k/v heads (query head h uses kv head h // (H/Hkv));
  gradients by torch.autograd with the given dO.
Naive baseline ("naive"): the same computation in the input precision (e.g. float16).
Verdict per tensor: PASS if max|ours - ref| <= FACTOR * max|naive - ref| + ATOL
(defaults 2 and 1e-3), and ours has no NaN/Inf where ref is finite.
Rows whose every key is masked (only when Nq > Nk and causal) are expected to give O = 0;
their LSE is left out of the comparison.

Variable-length batches (verify --cu-seqlens-q/-k): pass the same int32 offset files as
--cu-seqlens-q CQ.npy --cu-seqlens-k CK.npy; q, k, v, do, o and the gradients are then packed
[total_tokens, heads, headdim] and lse.npy is [heads_q, total_q]. The reference runs on each
sequence's slice alone (causal bottom-right aligned per sequence) and is packed the same way.

Exit status: 0 all PASS, 1 any FAIL, 2 bad input (missing file, shape mismatch).
"""
import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_inputs import load_as_float32  # noqa: E402

import torch  # noqa: E402

TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
                "float64": torch.float64}


class BadInput(Exception):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inputs", required=True, help="folder with q.npy, k.npy, v.npy[, do.npy]")
    p.add_argument("--outputs", required=True, help="folder with o.npy, lse.npy[, dq.npy, dk.npy, dv.npy]")
    p.add_argument("--causal", action="store_true", help="causal mask, bottom-right aligned")
    p.add_argument("--scale", type=float, default=None, help="softmax scale (default 1/sqrt(headdim))")
    p.add_argument("--factor", type=float, default=2.0, help="PASS if ours <= FACTOR*naive + ATOL (default 2)")
    p.add_argument("--atol", type=float, default=1e-3, help="absolute slack in the bound (default 1e-3)")
    p.add_argument("--ref-dtype", choices=("auto", "float32", "float64"), default="auto",
                   help="reference precision; auto = float32, or float64 when the inputs are float32")
    p.add_argument("--naive-dtype", choices=("auto", "float16", "bfloat16", "float32"), default="auto",
                   help="precision of the naive baseline; auto = the inputs' precision")
    p.add_argument("--cu-seqlens-q", default=None, help="int32 [batch + 1] query offsets: varlen, packed inputs")
    p.add_argument("--cu-seqlens-k", default=None, help="int32 [batch + 1] key offsets (with --cu-seqlens-q)")
    p.add_argument("--no-grad", action="store_true", help="do not check dq, dk, dv even if present")
    p.add_argument("--device", default=None, help="torch device (default cuda if available, else cpu)")
    p.add_argument("--out-json", default=None, help="write a JSON summary here")
    p.add_argument("--name", default=None, help="label for this case in the output (default: outputs folder)")
    return p.parse_args(argv)


def load(path, what):
    if not os.path.isfile(path):
        raise BadInput("%s: missing (%s)" % (path, what))
    return load_as_float32(path)


def fix_layout(arr, want, name, notes):
    """Return arr shaped `want`; accept the head-major transpose with a note."""
    want = tuple(want)
    if tuple(arr.shape) == want:
        return arr
    if arr.ndim == 4 and len(want) == 4:
        t = np.transpose(arr, (0, 2, 1, 3))  # [B, H, N, d] -> [B, N, H, d]
        if tuple(t.shape) == want:
            notes.append("%s: shape %s read as [B, H, N, d] and transposed" % (name, list(arr.shape)))
            return t
    if arr.ndim == 3 and len(want) == 3:
        t = np.transpose(arr, (0, 2, 1))  # [B, N, H] -> [B, H, N]
        if tuple(t.shape) == want:
            notes.append("%s: shape %s read as [B, Nq, H] and transposed" % (name, list(arr.shape)))
            return t
    if arr.size == int(np.prod(want)) and arr.ndim != len(want):
        notes.append("%s: shape %s reshaped to %s" % (name, list(arr.shape), list(want)))
        return arr.reshape(want)
    raise BadInput("%s: shape %s, expected %s" % (name, list(arr.shape), list(want)))


def attention(q, k, v, do, scale, causal, dtype, want_grad):
    """q [B,Nq,H,d], k/v [B,Nk,Hkv,d] float32 tensors -> dict of tensors (float32 results).

    Computes everything in `dtype`."""
    B, Nq, H, d = q.shape
    Nk, Hkv = k.shape[1], k.shape[2]
    group = H // Hkv
    qd = q.to(dtype).detach().requires_grad_(want_grad)
    kd = k.to(dtype).detach().requires_grad_(want_grad)
    vd = v.to(dtype).detach().requires_grad_(want_grad)
    with torch.enable_grad() if want_grad else torch.no_grad():
        qh = qd.permute(0, 2, 1, 3)                                  # [B, H, Nq, d]
        kh = kd.permute(0, 2, 1, 3).repeat_interleave(group, dim=1)  # [B, H, Nk, d]
        vh = vd.permute(0, 2, 1, 3).repeat_interleave(group, dim=1)
        s = torch.matmul(qh, kh.transpose(-1, -2)) * scale           # [B, H, Nq, Nk]
        empty = None
        if causal:
            i = torch.arange(Nq, device=q.device).view(Nq, 1)
            j = torch.arange(Nk, device=q.device).view(1, Nk)
            masked = j > i + (Nk - Nq)                                # [Nq, Nk]
            empty_rows = masked.all(dim=1)                            # [Nq]
            s = s.masked_fill(masked, float("-inf"))
            if bool(empty_rows.any()):
                empty = empty_rows.view(1, 1, Nq, 1)
                s = s.masked_fill(empty, 0.0)  # keep softmax finite; zeroed below
        lse = torch.logsumexp(s, dim=-1)                              # [B, H, Nq]
        p = torch.softmax(s, dim=-1)
        if empty is not None:
            p = p.masked_fill(empty, 0.0)
            lse = lse.masked_fill(empty.view(1, 1, Nq), float("-inf"))
        o = torch.matmul(p, vh).permute(0, 2, 1, 3)                   # [B, Nq, H, d]
        res = {"o": o.detach().float(), "lse": lse.detach().float()}
        if want_grad:
            dq, dk, dv = torch.autograd.grad(o, (qd, kd, vd), do.to(dtype))
            res.update(dq=dq.float(), dk=dk.float(), dv=dv.float())
    return res


def attention_varlen(q, k, v, do, cu_q, cu_k, scale, causal, dtype, want_grad):
    """Packed q [Tq,H,d], k/v [Tk,Hkv,d]: attention() on each sequence alone, packed back:
    o, dq [Tq,H,d]; dk, dv [Tk,Hkv,d]; lse [H,Tq]. Zero-length sequences give zeros."""
    Tq, H, d = q.shape
    res = {"o": torch.zeros(Tq, H, d, device=q.device),
           "lse": torch.full((H, Tq), float("-inf"), device=q.device)}
    if want_grad:
        res.update(dq=torch.zeros_like(q), dk=torch.zeros_like(k), dv=torch.zeros_like(v))
    for b in range(len(cu_q) - 1):
        q0, q1, k0, k1 = int(cu_q[b]), int(cu_q[b + 1]), int(cu_k[b]), int(cu_k[b + 1])
        if q1 == q0:
            continue
        if k1 == k0:
            continue  # no keys: O = 0, LSE = -inf, no gradients (already so)
        one = attention(q[None, q0:q1], k[None, k0:k1], v[None, k0:k1],
                        do[None, q0:q1] if do is not None else None, scale, causal, dtype, want_grad)
        res["o"][q0:q1] = one["o"][0]
        res["lse"][:, q0:q1] = one["lse"][0]
        if want_grad:
            res["dq"][q0:q1] = one["dq"][0]
            res["dk"][k0:k1] = one["dk"][0]
            res["dv"][k0:k1] = one["dv"][0]
    return res


def read_offsets(path, total, what):
    if not os.path.isfile(path):
        raise BadInput("%s: missing (%s)" % (path, what))
    cu = np.load(path)
    if cu.ndim != 1 or len(cu) < 2 or cu[0] != 0 or cu[-1] != total or np.any(np.diff(cu) < 0):
        raise BadInput("%s: %s must be [batch + 1] non-decreasing offsets from 0 to %d, got %s" % (path, what, total, cu))
    return cu


def compare(ours, ref, naive, factor, atol, valid=None):
    """All float32 tensors of one shape. Returns a dict of figures and the verdict."""
    if valid is None:
        valid = torch.isfinite(ref)
    n_valid = int(valid.sum())
    ours_bad = int((~torch.isfinite(ours) & valid).sum())
    zero = torch.zeros((), device=ref.device)
    d_ours = torch.where(valid, (ours - ref).abs(), zero)
    d_naive = torch.where(valid, (naive - ref).abs(), zero)
    d_ours = torch.nan_to_num(d_ours, nan=float("inf"))
    ours_max = float(d_ours.max()) if n_valid else 0.0
    naive_max = float(d_naive.max()) if n_valid else 0.0
    ours_mean = float(d_ours.sum() / max(n_valid, 1)) if ours_bad == 0 else float("inf")
    naive_mean = float(d_naive.sum() / max(n_valid, 1))
    bound = factor * naive_max + atol
    ok = ours_bad == 0 and ours_max <= bound
    return {"ours_max_abs": ours_max, "ours_mean_abs": ours_mean, "naive_max_abs": naive_max,
            "naive_mean_abs": naive_mean, "bound": bound, "nonfinite_in_ours": ours_bad,
            "ref_max_abs_value": float(torch.where(valid, ref.abs(), zero).max()) if n_valid else 0.0,
            "compared": n_valid, "verdict": "PASS" if ok else "FAIL"}


def jsonable(x):
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [jsonable(v) for v in x]
    return x


def run(a):
    dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    notes = []

    q, q_dtype = load(os.path.join(a.inputs, "q.npy"), "input q")
    k, _ = load(os.path.join(a.inputs, "k.npy"), "input k")
    v, _ = load(os.path.join(a.inputs, "v.npy"), "input v")
    varlen = a.cu_seqlens_q is not None or a.cu_seqlens_k is not None
    if varlen:
        if a.cu_seqlens_q is None or a.cu_seqlens_k is None:
            raise BadInput("--cu-seqlens-q and --cu-seqlens-k go together")
        if q.ndim != 3 or k.ndim != 3 or v.ndim != 3:
            raise BadInput("with --cu-seqlens-q/-k, q, k, v must be 3-D [total_tokens, heads, headdim]")
        q, k, v = q[None], k[None], v[None]  # [1, T, H, d]: the shape checks below read them as one batch item
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise BadInput("q, k, v must be 4-D [batch, seqlen, heads, headdim]")
    B, Nq, H, d = q.shape
    Nk, Hkv = k.shape[1], k.shape[2]
    if k.shape != v.shape or k.shape[0] != B or k.shape[3] != d or H % Hkv:
        raise BadInput("shapes q%s k%s v%s do not fit" % (list(q.shape), list(k.shape), list(v.shape)))
    cu_q = cu_k = None
    if varlen:
        cu_q = read_offsets(a.cu_seqlens_q, Nq, "cu_seqlens_q")
        cu_k = read_offsets(a.cu_seqlens_k, Nk, "cu_seqlens_k")
        if len(cu_q) != len(cu_k):
            raise BadInput("cu_seqlens_q has %d offsets, cu_seqlens_k %d: expected the same" % (len(cu_q), len(cu_k)))
    # Shapes the outputs must have: packed for varlen.
    o_shape = (Nq, H, d) if varlen else (B, Nq, H, d)
    lse_shape = (H, Nq) if varlen else (B, H, Nq)
    kv_shape = (Nk, Hkv, d) if varlen else (B, Nk, Hkv, d)
    scale = a.scale if a.scale is not None else 1.0 / math.sqrt(d)

    o_ours, _ = load(os.path.join(a.outputs, "o.npy"), "our output")
    o_ours = fix_layout(o_ours, o_shape, "o", notes)
    lse_path = os.path.join(a.outputs, "lse.npy")
    lse_ours = None
    if os.path.isfile(lse_path):
        lse_ours = fix_layout(load(lse_path, "our lse")[0], lse_shape, "lse", notes)
    else:
        notes.append("lse.npy missing: LSE not checked")

    grads_present = [n for n in ("dq", "dk", "dv") if os.path.isfile(os.path.join(a.outputs, n + ".npy"))]
    check_grad = bool(grads_present) and not a.no_grad
    do = None
    if check_grad:
        do_path = os.path.join(a.inputs, "do.npy")
        if not os.path.isfile(do_path):
            raise BadInput("%s present but %s missing: cannot check gradients" % (grads_present, do_path))
        do = fix_layout(load(do_path, "dO")[0], o_shape, "do", notes)

    ref_dtype = a.ref_dtype
    if ref_dtype == "auto":
        ref_dtype = "float64" if q_dtype in ("float32", "float64") else "float32"
    naive_dtype = a.naive_dtype
    if naive_dtype == "auto":
        naive_dtype = q_dtype if q_dtype in ("float16", "bfloat16", "float32") else "float32"

    t = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(dev)  # noqa: E731
    qt, kt, vt = t(q), t(k), t(v)
    dot = t(do) if do is not None else None
    if varlen:
        qt, kt, vt = qt[0], kt[0], vt[0]
        ref = attention_varlen(qt, kt, vt, dot, cu_q, cu_k, scale, a.causal, TORCH_DTYPES[ref_dtype], check_grad)
        naive = attention_varlen(qt, kt, vt, dot, cu_q, cu_k, scale, a.causal, TORCH_DTYPES[naive_dtype], check_grad)
    else:
        ref = attention(qt, kt, vt, dot, scale, a.causal, TORCH_DTYPES[ref_dtype], check_grad)
        naive = attention(qt, kt, vt, dot, scale, a.causal, TORCH_DTYPES[naive_dtype], check_grad)

    name = a.name or os.path.basename(os.path.normpath(a.outputs))
    print("== %s: q%s k%s v%s, %s inputs, causal=%s, scale=%.6g, ref %s, naive %s, device %s" % (
        name, list(q.shape), list(k.shape), list(v.shape), q_dtype, a.causal, scale, ref_dtype, naive_dtype, dev))
    for n in notes:
        print("   note: " + n)

    tensors = {}
    wanted = [("o", o_ours)]
    if lse_ours is not None:
        wanted.append(("lse", lse_ours))
    if check_grad:
        shapes = {"dq": o_shape, "dk": kv_shape, "dv": kv_shape}
        for g in ("dq", "dk", "dv"):
            path = os.path.join(a.outputs, g + ".npy")
            if os.path.isfile(path):
                wanted.append((g, fix_layout(load(path, "our " + g)[0], shapes[g], g, notes)))
    for tname, arr in wanted:
        ours = t(arr)
        valid = None
        if tname == "lse":
            valid = torch.isfinite(ref["lse"])  # leave out fully masked rows
        r = compare(ours, ref[tname].float(), naive[tname].float(), a.factor, a.atol, valid)
        if tname == "lse" and r["verdict"] == "FAIL":
            # A common slip: LSE kept in base 2 (log2-sum-exp2 of scores * log2(e)). Say so if it fits.
            alt = ref["lse"].float() / math.log(2.0)
            err = float(torch.where(valid, (ours - alt).abs(), torch.zeros((), device=dev)).max())
            if err <= max(r["bound"], 1e-2):
                r["hint"] = "ours matches the reference LSE in base 2 (ref / ln 2): max abs err %.3e" % err
        tensors[tname] = r
        print("   %-3s: ours max abs err %.3e (mean %.3e) | naive %s max abs err %.3e (mean %.3e) | "
              "bound %.3e | |ref| max %.3g%s -> %s" % (
                  tname, r["ours_max_abs"], r["ours_mean_abs"], naive_dtype, r["naive_max_abs"],
                  r["naive_mean_abs"], r["bound"], r["ref_max_abs_value"],
                  (" | %d non-finite in ours" % r["nonfinite_in_ours"]) if r["nonfinite_in_ours"] else "",
                  r["verdict"]))
        if "hint" in r:
            print("        hint: " + r["hint"])
    if grads_present and not check_grad:
        notes.append("gradients present but not checked (--no-grad)")
    elif not grads_present:
        notes.append("no dq/dk/dv in outputs: gradients not checked")
    verdict = "PASS" if all(r["verdict"] == "PASS" for r in tensors.values()) else "FAIL"
    print("   verdict: %s (rule: ours <= %g * naive + %g)" % (verdict, a.factor, a.atol))
    summary = {
        "name": name, "inputs": os.path.abspath(a.inputs), "outputs": os.path.abspath(a.outputs),
        "varlen": None if cu_q is None else {"cu_seqlens_q": [int(x) for x in cu_q], "cu_seqlens_k": [int(x) for x in cu_k]},
        "shape": {"batch": B, "seqlen_q": Nq, "seqlen_k": Nk, "heads": H, "heads_kv": Hkv, "headdim": d},
        "input_dtype": q_dtype, "causal": a.causal, "scale": scale, "ref_dtype": ref_dtype,
        "naive_dtype": naive_dtype, "factor": a.factor, "atol": a.atol, "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__, "tensors": tensors, "notes": notes, "verdict": verdict,
    }
    return summary


def main(argv=None):
    a = parse_args(argv)
    try:
        summary = run(a)
        rc = 0 if summary["verdict"] == "PASS" else 1
    except BadInput as e:
        print("check_verify.py: %s" % e, file=sys.stderr)
        summary = {"name": a.name or os.path.basename(os.path.normpath(a.outputs)), "verdict": "ERROR",
                   "error": str(e)}
        rc = 2
    if a.out_json:
        os.makedirs(os.path.dirname(os.path.abspath(a.out_json)), exist_ok=True)
        with open(a.out_json, "w") as f:
            json.dump(jsonable(summary), f, indent=2)
    return rc


if __name__ == "__main__":
    sys.exit(main())
