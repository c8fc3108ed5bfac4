#!/usr/bin/env python3
"""Fits the per-row rates of the forecast's per-statement model (docs/forecast.md) to the
statements timed by bench/calibrate.sh (bench/calibration/raw/*.tsv).

For every timed UPDATE, index build, rewrite and validation scan on a table with at least
10,000 rows, it prints the features the model uses and the seconds measured; then, from the
quiet runs (no CPU-bound processes beside the batch), the least-squares per-row cost of an
UPDATE: base + per index entry x indexes + per foreign-key check x foreign keys (rows the batch
wrote before only), and per class the measured time over the model's point estimate in every
run (quiet and busy), which is what sets the fast and slow rates in src/core/forecast/rates.rs.

    python3 bench/calibration/fit.py [bench/calibration/raw/*.tsv]
"""
import glob
import sys


def runs(paths):
    for path in paths:
        head, rows = {}, []
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if line.startswith("# "):
                    k, _, v = line[2:].partition(": ")
                    head[k] = v
                    continue
                cols = line.split("\t")
                if cols[0] == "migration":
                    names = cols
                    continue
                rows.append(dict(zip(names, cols)))
        busy = not head.get("busy", "0").startswith("0")
        yield path, busy, head, rows


def num(x):
    try:
        return float(x)
    except ValueError:
        return 0.0


def solve(a, b):
    """Least squares by the normal equations (a few unknowns)."""
    n = len(a[0])
    m = [[sum(r[i] * r[j] for r in a) for j in range(n)] + [sum(r[i] * y for r, y in zip(a, b))] for i in range(n)]
    for i in range(n):
        p = max(range(i, n), key=lambda k: abs(m[k][i]))
        m[i], m[p] = m[p], m[i]
        for k in range(n):
            if k != i:
                f = m[k][i] / m[i][i]
                m[k] = [x - f * y for x, y in zip(m[k], m[i])]
    return [m[i][n] / m[i][i] for i in range(n)]


def main():
    paths = sys.argv[1:] or sorted(glob.glob("bench/calibration/raw/*.tsv"))
    data = list(runs(paths))
    updates, quiet_updates = [], []
    for path, busy, head, rows in data:
        for r in rows:
            if r["kind"] != "update" or num(r["rows_changed"]) < 10000:
                continue
            fkw = num(r["fks"]) if r["written_earlier_in_batch"] == "yes" else 0.0
            u = (path, busy, r["migration"], r["table"], num(r["rows_changed"]), num(r["indexes_before"]), fkw, num(r["heap_bytes_before"]), num(r["seconds"]), r["statement"])
            updates.append(u)
            # Statements that join other tables (000498) are not the plain row cost.
            if not busy and " FROM " not in r["statement"].upper() and " IN (" not in r["statement"].upper():
                quiet_updates.append(u)
    print("UPDATE statements (>= 10,000 rows): run, migration, table, rows, indexes, fk checks, us/row")
    for u in updates:
        print(f"  {u[0].split('/')[-1]:40} {'busy ' if u[1] else 'quiet'} {u[2]} {u[3]:24} {u[4]:>9.0f} {u[5]:>3.0f} {u[6]:>2.0f} {u[8] / u[4] * 1e6:7.2f}")
    a = [[1.0, u[5], u[6]] for u in quiet_updates]
    b = [u[8] / u[4] for u in quiet_updates]
    base, per_index, per_fk = solve(a, b)
    print(f"quiet least squares, seconds per row: base {base * 1e6:.2f} us + {per_index * 1e6:.2f} us x indexes + {per_fk * 1e6:.2f} us x foreign keys (rows written earlier)")
    for path, busy, head, rows in data:
        print(f"{path.split('/')[-1]}: batch {head.get('batch', '?').split(' ')[0]} s, busy={busy}")


if __name__ == "__main__":
    main()
