#!/usr/bin/env python3
"""Side-by-side table of decode results: `FlashAttention.Bench decode --out-json` and
torch_decode.py --out-json (any number of files; rows are matched on batch and cache length).

  python3 compare_decode.py flash-decode.json torch-decode.json [--out-md table.md]

Columns per implementation: median ms, GB/s and % of that run's device-to-device copy bandwidth;
the last column is flash's time over the best torch backend's (below 1: flash is faster).
"""
import argparse
import json
import sys


def load(paths):
    impls, cells, copies = [], {}, {}
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        copies[doc.get("tool", path)] = doc.get("copy_gbps")
        results = doc.get("results", [])
        seen = {}
        for r in results:
            seen[(r["batch"], r["cache_len"], r["impl"])] = seen.get((r["batch"], r["cache_len"], r["impl"]), 0) + 1
        for r in results:
            impl = r["impl"] + ("" if r.get("gqa") in (None, "native", "-") else " (%s)" % r["gqa"])
            if seen[(r["batch"], r["cache_len"], r["impl"])] > 1:  # several split counts timed: one column each
                impl += " splits %d" % r.get("splits", 0)
            if impl not in impls:
                impls.append(impl)
            cells[(r["batch"], r["cache_len"], impl)] = r
    return impls, cells, copies


def cell(r):
    if r is None:
        return "-"
    if r.get("median_ms") is None:
        return r.get("status", "-")
    return "%.3f ms, %.0f GB/s (%.0f%%)" % (r["median_ms"], r["gbps"], r["pct_copy"])


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+")
    p.add_argument("--out-md", default=None)
    a = p.parse_args(argv)
    impls, cells, copies = load(a.files)
    keys = sorted({(b, n) for (b, n, _) in cells})
    flash = [i for i in impls if i.startswith("flash")]
    torch = [i for i in impls if i.startswith("torch")]
    lines = ["copy bandwidth (GB/s): " + ", ".join("%s %.0f" % (k, v) for k, v in copies.items() if v), "",
             "| batch | cache | " + " | ".join(impls) + " | flash / best torch |",
             "|---|---|" + "---|" * len(impls) + "---|"]
    for b, n in keys:
        ratio = "-"
        ours = [cells.get((b, n, i)) for i in flash]
        ours = [r["median_ms"] for r in ours if r and r.get("median_ms")]
        theirs = [cells.get((b, n, i)) for i in torch]
        theirs = [r["median_ms"] for r in theirs if r and r.get("median_ms")]
        if ours and theirs:
            ratio = "%.2f" % (min(ours) / min(theirs))
        lines.append("| %d | %d | %s | %s |" % (b, n, " | ".join(cell(cells.get((b, n, i))) for i in impls), ratio))
    text = "\n".join(lines)
    print(text)
    if a.out_md:
        with open(a.out_md, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
