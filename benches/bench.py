#!/usr/bin/env python3
"""Benchmark harness: siap against an independent DuckDB implementation of
the same readiness computation, on synthetic campaigns of three sizes.

    python3 benches/bench.py [--sizes S,M,L] [--runs 3]

It installs DuckDB (the release pinned in DUCKDB_VERSION) into
benches/.venv, builds siap (release), generates each size once into
benches/data/<size>/ with `siap generate`, checks that both implementations
give the same readiness table, then times each (wall time and peak memory
via /usr/bin/time) and prints, per size: the median wall time and peak
memory of each, the ratio siap/DuckDB, and siap's MB/s. No test asserts a
time: these machines are shared and noisy.
"""

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benches"
DATE = "2026-11-27"
SIZES = {
    "S": dict(products=2_000, stock_rows=1_000_000, shipment_rows=200_000),
    "M": dict(products=20_000, stock_rows=10_000_000, shipment_rows=2_000_000),
    "L": dict(products=100_000, stock_rows=50_000_000, shipment_rows=10_000_000),
}
SPEC_COLUMNS = [
    "product_id", "suppliers", "stock_units", "window_units", "early_units", "late_units",
    "stock_shortfall", "window_shortfall", "short_of_minimum", "misses_window", "status",
]


def sh(cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, **kw)


# The DuckDB release the figures in docs/performance.md were measured
# with: its speed changes between releases, so the ratio does too.
DUCKDB_VERSION = "2.0.1"


def venv_python():
    venv = BENCH / ".venv"
    py = venv / "bin" / "python"
    if not py.exists():
        sh([sys.executable, "-m", "venv", str(venv)])
    check = f"import duckdb, sys; sys.exit(duckdb.__version__ != {DUCKDB_VERSION!r})"
    try:
        sh([str(py), "-c", check], stderr=subprocess.DEVNULL)
    except subprocess.CalledProcessError:
        sh([str(py), "-m", "pip", "install", "--quiet", f"duckdb=={DUCKDB_VERSION}"])
    return py


def timed(cmd):
    """Runs cmd under /usr/bin/time; returns (wall seconds, peak RSS MiB)."""
    if not Path("/usr/bin/time").exists():
        sys.exit("needs GNU time: apt-get install time")
    # Each run starts with nothing left for the kernel to write back from
    # the run before (either tool's), so one run's writes are not billed
    # to the next.
    os.sync()
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", *map(str, cmd)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    wall, kib = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kib) / 1024


def table(path):
    with open(path, newline="") as f:
        return [tuple(r[c] for c in SPEC_COLUMNS) for r in csv.DictReader(f)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="S,M,L")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    py = venv_python()
    sh(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    siap = ROOT / "target" / "release" / "siap"
    results = []
    for size in args.sizes.split(","):
        spec = SIZES[size]
        data = BENCH / "data" / size
        marker = data / ".complete"
        if not marker.exists():
            shutil.rmtree(data, ignore_errors=True)
            sh([siap, "generate", "--out", data, "--date", DATE, "--seed", "42",
                "--products", str(spec["products"]), "--stock-rows", str(spec["stock_rows"]),
                "--shipment-rows", str(spec["shipment_rows"])])
            marker.touch()
        mb = sum(f.stat().st_size for f in data.rglob("*.csv")) / 1e6
        work = BENCH / "data" / f"{size}-work"
        duck_out = BENCH / "data" / f"{size}-duckdb.csv"
        siap_cmd = [siap, "run", data / "pipeline.toml", "--date", DATE, "--work-dir", work, "--quiet"]
        duck_cmd = [py, BENCH / "duckdb_readiness.py", data, DATE, duck_out]
        siap_runs, duck_runs = [], []
        for i in range(args.runs):
            shutil.rmtree(work, ignore_errors=True)
            siap_runs.append(timed(siap_cmd))
            duck_runs.append(timed(duck_cmd))
            print(f"{size} run {i + 1}: siap {siap_runs[-1]}, duckdb {duck_runs[-1]}", file=sys.stderr, flush=True)
        agree = table(work / "latest" / "readiness.csv") == table(duck_out)
        s_wall = statistics.median(w for w, _ in siap_runs)
        d_wall = statistics.median(w for w, _ in duck_runs)
        results.append(dict(
            size=size, input_mb=round(mb), runs=args.runs,
            siap_s=s_wall, siap_peak_mib=round(max(m for _, m in siap_runs)),
            duckdb_s=d_wall, duckdb_peak_mib=round(max(m for _, m in duck_runs)),
            ratio=round(s_wall / d_wall, 2), siap_mb_per_s=round(mb / s_wall), tables_agree=agree,
            duckdb_version=DUCKDB_VERSION,
        ))
        if not agree:
            print(f"MISMATCH at {size}: siap and DuckDB readiness tables differ", file=sys.stderr)
    print()
    print(f"DuckDB {DUCKDB_VERSION}, {args.runs} runs each, medians")
    print("| size | input | siap wall | siap peak | DuckDB wall | DuckDB peak | siap/DuckDB | siap MB/s | tables agree |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['size']} | {r['input_mb']} MB | {r['siap_s']:.2f} s | {r['siap_peak_mib']} MiB | "
              f"{r['duckdb_s']:.2f} s | {r['duckdb_peak_mib']} MiB | {r['ratio']:.2f} | {r['siap_mb_per_s']} | "
              f"{'yes' if r['tables_agree'] else 'NO'} |")
    (BENCH / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    sys.exit(0 if all(r["tables_agree"] for r in results) else 1)


if __name__ == "__main__":
    main()
