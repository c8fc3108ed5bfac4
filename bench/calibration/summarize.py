#!/usr/bin/env python3
"""Markdown tables from the raw calibration files (bench/calibration/README.md).

    bench/calibration/summarize.py [RAW_DIR]   (default: bench/calibration/raw)

For every `<from>-<to>-<label>` in RAW_DIR: the runs (load, busy, batch, the forecast's
band), the ten costliest statements over the quiet runs with their features, and the
forecast's own items (updates, deletes, index builds, rewrites, scans) against the
statements they stand for.
"""
import glob
import json
import os
import re
import sys
from collections import defaultdict

COLS = [
    "migration", "stmt_no", "kind", "table", "rows_before", "rows_changed",
    "indexes_before", "fks", "heap_bytes_before", "written_earlier_in_batch", "seconds",
    "deltas", "scans", "statement",
]


def read_run(path):
    head, rows = {}, []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# "):
                key, _, val = line[2:].partition(": ")
                head[key] = val
                continue
            if line.startswith("migration\t"):
                continue
            r = dict(zip(COLS, line.split("\t")))
            r["seconds"] = float(r["seconds"])
            rows.append(r)
    m = re.match(r"([\d.]+) s", head.get("batch", ""))
    head["total"] = float(m.group(1)) if m else None
    b = re.match(r"(\d+)", head.get("busy", "0"))
    head["busy_n"] = int(b.group(1)) if b else 0
    return head, rows


def index_name(stmt):
    m = re.match(r"CREATE (?:UNIQUE )?INDEX (?:CONCURRENTLY )?(?:IF NOT EXISTS )?(\S+) ON", stmt, re.I)
    return m.group(1).strip('"') if m else None


def fmt_s(x):
    return f"{x:.2f}" if x >= 0.1 else f"{x:.3f}"


def mb(b):
    try:
        return f"{int(b) / 1e6:.0f}"
    except ValueError:
        return "-"


def summarize(raw, stem):
    runs = sorted(glob.glob(os.path.join(raw, f"{stem}-run*.tsv")),
                  key=lambda p: int(re.search(r"run(\d+)\.tsv$", p).group(1)))
    fc = json.load(open(os.path.join(raw, f"{stem}-forecast.json")))["forecast"]
    est = fc["estimate"]
    low, high = est["low_seconds"], est["high_seconds"]
    out = [f"### {stem}", ""]
    data = [(p, *read_run(p)) for p in runs]
    if data:
        out.append(f"Rows: {data[0][1].get('volume', '')}")
        out.append("")
    out += ["| run | busy | load before / after | batch (s) | forecast (s) | inside |",
            "|---|---|---|---|---|---|"]
    for p, h, _ in data:
        n = re.search(r"run(\d+)\.tsv$", p).group(1)
        lb, _, la = h.get("load average before", "").partition("; after: ")
        t = h["total"]
        inside = "yes" if t is not None and low <= t <= high else "**no**"
        failed = " (failed)" if "FAILED" in h else ""
        out.append(f"| {n} | {h['busy_n']} | {lb} / {la} | {t:.2f}{failed} | {low:.2f} - {high:.2f} ({high / max(low, 1e-9):.1f}x) | {inside} |")
    quiet = [r for _, h, r in data if h["busy_n"] == 0]
    busy = [r for _, h, r in data if h["busy_n"] > 0]

    # Forecast items by (migration, table, kind).
    items = defaultdict(list)
    for key, kind in [("updates", None), ("index_builds", "create_index"), ("rewrites", "alter_rewrite"), ("scans", "alter")]:
        for w in fc.get(key, []):
            k = kind or w.get("operation", "update")
            # A forecast of the per-statement model names the statement of each item.
            items[(w["migration"], w["table"], k, w.get("index"), w.get("statement"))].append(w)

    def forecast_for(r):
        if not r["migration"].isdigit():
            return None
        mig = int(r["migration"])
        idx = index_name(r["statement"]) if r["kind"] == "create_index" else None
        return items.get((mig, r["table"], r["kind"], idx, None)) or items.get(
            (mig, r["table"], r["kind"], idx, int(r["stmt_no"])))

    # Mean over the quiet runs, statement by statement (same statements in every run).
    def mean(runs_rows):
        acc = defaultdict(list)
        for rows in runs_rows:
            for r in rows:
                acc[(r["migration"], r["stmt_no"])].append(r)
        return acc

    q = mean(quiet)
    bz = mean(busy)
    ranked = sorted(q.values(), key=lambda rs: -sum(r["seconds"] for r in rs) / len(rs))[:10]
    out += ["", "Ten costliest statements (quiet runs; busy run in the last column):", "",
            "| migration.stmt | kind | table | rows before | rows changed | indexes | fks | heap MB | written earlier | seconds (quiet runs) | forecast item (s) | busy (s) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for rs in ranked:
        r = rs[0]
        secs = " / ".join(fmt_s(x["seconds"]) for x in rs)
        f = forecast_for(r)
        ftxt = "-" if not f else " + ".join(f"{w['seconds'][0]:.2f}-{w['seconds'][1]:.2f}" for w in f)
        b = bz.get((r["migration"], r["stmt_no"]))
        btxt = " / ".join(fmt_s(x["seconds"]) for x in b) if b else "-"
        out.append(f"| {r['migration']}.{r['stmt_no']} | {r['kind']} | {r['table']} | {r['rows_before']} | {r['rows_changed']} | {r['indexes_before']} | {r['fks']} | {mb(r['heap_bytes_before'])} | {r['written_earlier_in_batch']} | {secs} | {ftxt} | {btxt} |")

    # The forecast's items against the statements they stand for (quiet mean).
    out += ["", "Forecast items against the statements they stand for (quiet runs, mean):", "",
            "| migration | table | work | statements | measured (s) | forecast (s) | measured / high |",
            "|---|---|---|---|---|---|---|"]
    for (mig, table, kind, idx, no), ws in sorted(items.items(), key=lambda kv: -max(w["seconds"][1] for w in kv[1])):
        stmts = [rs for rs in q.values() if rs[0]["migration"] == f"{mig:06}" and rs[0]["table"] == table
                 and rs[0]["kind"] == kind and (idx is None or index_name(rs[0]["statement"]) == idx)
                 and (no is None or rs[0]["stmt_no"] == str(no))]
        measured = sum(sum(r["seconds"] for r in rs) / len(rs) for rs in stmts)
        lo = sum(w["seconds"][0] for w in ws)
        hi = sum(w["seconds"][1] for w in ws)
        if max(measured, hi) < 0.1:
            continue
        what = kind + (f" {idx}" if idx else "") + (f" (statement {no})" if no is not None else "")
        ratio = f"{measured / hi:.1f}x" if hi > 0 else "-"
        out.append(f"| {mig:06} | {table} | {what} | {len(stmts)} | {measured:.2f} | {lo:.2f} - {hi:.2f} | {ratio} |")
    return "\n".join(out)


def main():
    raw = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "raw")
    stems = sorted({re.sub(r"-forecast\.json$", "", os.path.basename(p))
                    for p in glob.glob(os.path.join(raw, "*-forecast.json"))})
    for s in stems:
        print(summarize(raw, s))
        print()


if __name__ == "__main__":
    main()
