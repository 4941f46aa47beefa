#!/usr/bin/env python3
"""Compare benchmark result files (ours and torch's) in Markdown tables.

Reads one or more JSON files in the shared result schema (README.md in this folder):
{"tool": ..., "device": ..., "results": [{"impl", "pass", "dtype", "batch", "seqlen", "heads",
"headdim", "causal", "median_ms", "tflops", "peak_mem_bytes", "runs", "status"}, ...]}

Prints (and writes with --out-md):
  1. TFLOPs: rows = (pass, dtype, headdim, causal, seqlen); a column per impl; then for each
     of our impls (name starting with "flash-") the ratios ours/torch-flash and ours/torch-cudnn.
  2. Peak memory (peak_mem_bytes, MiB), same rows, a column per impl.
  3. Geometric means of the ratios per pass.
Missing entries print "-"; entries whose status is not "ok" print their status (oom, skipped, ...).
Needs the Python standard library only.
"""
import argparse
import json
import math
import os
import sys

PASS_ORDER = {"fwd": 0, "fwd_bwd": 1, "bwd": 2}
TORCH_ORDER = ["torch-flash", "torch-cudnn", "torch-efficient", "torch-math"]
RATIO_BASES = ["torch-flash", "torch-cudnn"]
DTYPE_ALIASES = {"fp16": "float16", "half": "float16", "f16": "float16", "bf16": "bfloat16",
                 "fp32": "float32", "f32": "float32", "float": "float32"}


def norm_bool(x):
    if isinstance(x, bool):
        return x
    if isinstance(x, (int, float)):
        return bool(x)
    if isinstance(x, str):
        return x.strip().lower() in ("true", "yes", "1", "causal")
    return False


def to_num(x):
    if x is None or x == "":
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def normalize(r):
    r = {str(k).lower(): v for k, v in r.items()}
    dt = str(r.get("dtype", "?")).lower()
    out = {
        "impl": str(r.get("impl", "?")),
        "pass": str(r.get("pass", "?")).lower(),
        "dtype": DTYPE_ALIASES.get(dt, dt),
        "headdim": int(to_num(r.get("headdim")) or 0),
        "causal": norm_bool(r.get("causal", False)),
        "seqlen": int(to_num(r.get("seqlen")) or 0),
        "batch": to_num(r.get("batch")),
        "heads": to_num(r.get("heads")),
        "tflops": to_num(r.get("tflops")),
        "median_ms": to_num(r.get("median_ms")),
        "peak_mem_bytes": to_num(r.get("peak_mem_bytes")),
        "status": str(r.get("status", "ok") if r.get("status") is not None else "ok"),
    }
    return out


def load_files(paths):
    sources, rows, warnings = [], [], []
    for p in paths:
        try:
            with open(p) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            warnings.append("%s: cannot read (%s)" % (p, e))
            continue
        if isinstance(doc, list):
            doc = {"results": doc}
        res = doc.get("results") or []
        sources.append({"file": p, "tool": doc.get("tool", "?"), "device": doc.get("device", "?"),
                        "driver": doc.get("driver", "?"), "cuda": doc.get("cuda", doc.get("backend", "?")),
                        "date": doc.get("date", "?"), "n": len(res)})
        for r in res:
            if isinstance(r, dict):
                rows.append(normalize(r))
    return sources, rows, warnings


def key_of(r):
    return (r["pass"], r["dtype"], r["headdim"], r["causal"], r["seqlen"])


def sort_key(k):
    return (PASS_ORDER.get(k[0], 9), k[0], k[1], k[2], k[3], k[4])


def impl_order(impls):
    ours = sorted(i for i in impls if i.startswith("flash-"))
    torch_ = [i for i in TORCH_ORDER if i in impls]
    rest = sorted(i for i in impls if i not in ours and i not in torch_)
    return ours, torch_ + rest


def md_table(header, rows, align_right_from):
    line = "| " + " | ".join(header) + " |"
    sep = "|" + "|".join(("---:" if i >= align_right_from else "---") for i in range(len(header))) + "|"
    body = ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join([line, sep] + body)


def short_status(s):
    s = s.strip()
    if s.startswith("error"):
        return "err"
    if s.startswith("unsupported"):
        return "unsup"
    if s.startswith("skip"):
        return "skip"
    return s.split()[0][:8] if s else "?"


def cell(r, field, fmt):
    if r is None:
        return "-"
    if r["status"] != "ok":
        return short_status(r["status"])
    v = r[field]
    return "-" if v is None else fmt(v)


def ok_value(r, field):
    if r is None or r["status"] != "ok":
        return None
    v = r[field]
    return v if v is not None and v > 0 else None


def build(paths):
    sources, rows, warnings = load_files(paths)
    table = {}
    dups = 0
    for r in rows:
        k = key_of(r)
        if r["impl"] in table.setdefault(k, {}):
            dups += 1
        table[k][r["impl"]] = r  # last one wins
    if dups:
        warnings.append("%d duplicate (row, impl) entries: the last one read was kept" % dups)
    impls = {r["impl"] for r in rows}
    ours, others = impl_order(impls)
    all_impls = ours + others
    bases = [b for b in RATIO_BASES if b in impls]
    keys = sorted(table, key=sort_key)

    out = []
    out.append("# Attention benchmark comparison")
    out.append("")
    out.append("Sources:")
    out.append("")
    for s in sources:
        out.append("- `%s`: tool %s, %d results, device %s, driver %s, cuda %s, date %s" % (
            os.path.basename(s["file"]), s["tool"], s["n"], s["device"], s["driver"], s["cuda"], s["date"]))
    for w in warnings:
        out.append("- warning: " + w)
    devices = {s["device"] for s in sources}
    if len(devices) > 1:
        out.append("- warning: results come from different devices: %s" % ", ".join(sorted(map(str, devices))))
    out.append("")
    if not keys:
        out.append("No results.")
        return "\n".join(out) + "\n"

    key_hdr = ["pass", "dtype", "d", "causal", "seqlen"]

    def key_cells(k):
        return [k[0], k[1], str(k[2]), "yes" if k[3] else "no", str(k[4])]

    # TFLOPs table
    ratio_cols = [(o, b) for o in ours for b in bases]
    hdr = key_hdr + all_impls + ["%s / %s" % (o, b) for o, b in ratio_cols]
    body = []
    ratios = {}  # (o, b, pass) -> list
    for k in keys:
        ent = table[k]
        row = key_cells(k) + [cell(ent.get(i), "tflops", lambda v: "%.1f" % v) for i in all_impls]
        for o, b in ratio_cols:
            x, y = ok_value(ent.get(o), "tflops"), ok_value(ent.get(b), "tflops")
            if x is None or y is None:
                row.append("-")
            else:
                row.append("%.2f" % (x / y))
                ratios.setdefault((o, b, k[0]), []).append(x / y)
        body.append(row)
    out.append("## Throughput (TFLOPs; fwd 4·B·N²·H·d, halved if causal; bwd 2.5×, fwd_bwd 3.5×)")
    out.append("")
    out.append(md_table(hdr, body, len(key_hdr)))
    out.append("")

    # Memory table
    hdr = key_hdr + all_impls
    body = []
    for k in keys:
        ent = table[k]
        body.append(key_cells(k) + [cell(ent.get(i), "peak_mem_bytes", lambda v: "%.1f" % (v / 2**20))
                                    for i in all_impls])
    out.append("## Peak memory (MiB, peak_mem_bytes: allocated beyond the inputs; see each tool's note)")
    out.append("")
    out.append(md_table(hdr, body, len(key_hdr)))
    out.append("")

    # Summary
    if ratios:
        out.append("## Geometric mean of ratios")
        out.append("")
        hdr = ["ours", "vs", "pass", "geomean", "min", "max", "rows"]
        body = []
        for (o, b, pas) in sorted(ratios, key=lambda t: (t[0], t[1], PASS_ORDER.get(t[2], 9))):
            v = ratios[(o, b, pas)]
            g = math.exp(sum(math.log(x) for x in v) / len(v))
            body.append([o, b, pas, "%.2f" % g, "%.2f" % min(v), "%.2f" % max(v), str(len(v))])
        out.append(md_table(hdr, body, 3))
        out.append("")
    out.append("Cells: `-` missing; `oom`, `skip`, `unsup`, `err` = status of a run that gave no figure.")
    return "\n".join(out) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", help="result JSON files (ours and torch's)")
    p.add_argument("--out-md", default=None, help="also write the Markdown here")
    a = p.parse_args(argv)
    md = build(a.files)
    sys.stdout.write(md)
    if a.out_md:
        d = os.path.dirname(os.path.abspath(a.out_md))
        os.makedirs(d, exist_ok=True)
        with open(a.out_md, "w") as f:
            f.write(md)
    readable = any(os.path.isfile(f) for f in a.files)
    return 0 if readable else 1


if __name__ == "__main__":
    sys.exit(main())
