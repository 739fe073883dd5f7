#!/usr/bin/env python3
"""Benchmark harness: siap against an independent DuckDB implementation of
the same readiness computation, on a matrix of synthetic campaigns: data
shapes (how the feeds are written) × sizes.

    python3 benches/bench.py [--sizes M,L] [--shapes generate,one-file,...]
                             [--runs 3] [--drop-data]
                             [--check-threads] [--baseline OLD_SIAP]

It installs DuckDB (the release pinned in DUCKDB_VERSION) into
benches/.venv, builds siap (release), generates each case once into
benches/data/<shape>-<size>/ with `siap generate` and the shape's flags
(`--drop-data` deletes it after its case, for disk space), checks that
both implementations give the same readiness table, then times each (wall
time and peak memory via /usr/bin/time), alternating them, and prints per
case: the median wall time and peak memory of each, the ratio
siap/DuckDB, and siap's MB/s. No test asserts a time: these machines are
shared and noisy.

Byte checks (not timed): `--check-threads` runs siap once more per case
with `SIAP_THREADS=1` and compares every published file (all but the
manifest, whose run id and times differ) with the all-threads run's;
`--baseline OLD_SIAP` does the same against another build of siap (the
code before a change). Either prints the files that differ.
"""

import argparse
import csv
import hashlib
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
# How the feeds are written: `siap generate`'s flags, and what changes in
# the size (a factor on products, stock rows for the one-format feeds).
SHAPES = {
    # The generator's first shape: 8 stock files, `+07:00`, whole minutes.
    "generate": dict(flags=[]),
    # What ERPs and aggregators send: all stock in one file, wall-clock
    # timestamps to the second without an offset, longer ids, 4% rejected,
    # twice the products.
    "one-file": dict(flags=["--stock-files", "1", "--naive-timestamps", "--timestamp-step", "second",
                            "--long-ids", "--reject-share", "0.04"], products=2),
    # Irregular timestamps: milliseconds, with an offset, in 3 files.
    "millis": dict(flags=["--stock-files", "3", "--timestamp-step", "millisecond"]),
    # A declared day-first format, 2 files, 8% rejected.
    "day-first": dict(flags=["--stock-files", "2", "--timestamp-format", "%d/%m/%Y %H:%M",
                             "--reject-share", "0.08"]),
    # One NDJSON stock feed: 2M records at M, 10M at L.
    "ndjson": dict(flags=["--stock-files", "1", "--stock-format", "ndjson"], stock_rows=0.2),
    # One Parquet stock feed: 10M rows at M, 50M at L.
    "parquet": dict(flags=["--stock-files", "1", "--stock-format", "parquet"]),
    # The ERP export as Parquet: one file, wall-clock seconds without an
    # offset (a dictionary of about a million timestamps per row group),
    # longer ids, 4% rejected, twice the products.
    "parquet-erp": dict(flags=["--stock-files", "1", "--stock-format", "parquet",
                               "--naive-timestamps", "--timestamp-step", "second",
                               "--long-ids", "--reject-share", "0.04"], products=2),
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


def generate(siap, shape, size):
    """The case's campaign, generated once (kept across runs of the
    harness unless `--drop-data`)."""
    spec, how = SIZES[size], SHAPES[shape]
    data = BENCH / "data" / (size if shape == "generate" else f"{shape}-{size}")
    marker = data / ".complete"
    if not marker.exists():
        shutil.rmtree(data, ignore_errors=True)
        sh([siap, "generate", "--out", data, "--date", DATE, "--seed", "42",
            "--products", str(int(spec["products"] * how.get("products", 1))),
            "--stock-rows", str(int(spec["stock_rows"] * how.get("stock_rows", 1))),
            "--shipment-rows", str(spec["shipment_rows"]), *how["flags"]])
        marker.touch()
    return data


def published(work):
    """sha256 of every file of a run's `latest` folder but the manifest
    (its run id and times differ from run to run), by path."""
    latest = (work / "latest").resolve()
    out = {}
    for f in sorted(latest.rglob("*")):
        if f.is_file() and f.name != "manifest.json":
            h = hashlib.sha256()
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            out[str(f.relative_to(latest))] = h.hexdigest()
    return out


def differing(cmd, work, env, want):
    """Runs `cmd` (siap's, into `work`) with `env` added; the published
    files whose bytes differ from `want`'s (or that only one run has)."""
    shutil.rmtree(work, ignore_errors=True)
    run = subprocess.run([str(c) for c in cmd], env={**os.environ, **env},
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if run.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{run.stderr}")
    got = published(work)
    shutil.rmtree(work, ignore_errors=True)
    return sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))


def case(siap, py, shape, size, runs, checks):
    """Times siap and DuckDB on one case, alternately; compares their tables
    (and, with `checks`, siap's bytes on one thread and with a baseline)."""
    data = generate(siap, shape, size)
    mb = sum(f.stat().st_size for f in data.rglob("*") if f.suffix in (".csv", ".ndjson", ".parquet")) / 1e6
    work = BENCH / "data" / f"{shape}-{size}-work"
    duck_out = BENCH / "data" / f"{shape}-{size}-duckdb.csv"
    siap_cmd = [siap, "run", data / "pipeline.toml", "--date", DATE, "--work-dir", work, "--quiet"]
    duck_cmd = [py, BENCH / "duckdb_readiness.py", data, DATE, duck_out]
    siap_runs, duck_runs = [], []
    for i in range(runs):
        shutil.rmtree(work, ignore_errors=True)
        siap_runs.append(timed(siap_cmd))
        duck_runs.append(timed(duck_cmd))
        print(f"{shape} {size} run {i + 1}: siap {siap_runs[-1]}, duckdb {duck_runs[-1]}",
              file=sys.stderr, flush=True)
    agree = table(work / "latest" / "readiness.csv") == table(duck_out)
    same = {}
    if checks["threads"] or checks["baseline"]:
        want = published(work)
        run = lambda exe, w: [exe, *siap_cmd[1:-3], "--work-dir", w, "--quiet"]
        if checks["threads"]:
            other = work.with_name(work.name + "-one")
            same["one_thread"] = differing(run(siap, other), other, {"SIAP_THREADS": "1"}, want)
        if checks["baseline"]:
            other = work.with_name(work.name + "-baseline")
            same["baseline"] = differing(run(checks["baseline"], other), other, {}, want)
        for k, files in same.items():
            print(f"{shape} {size} {k}: " + ("same bytes" if not files else "DIFFER: " + ", ".join(files)),
                  file=sys.stderr, flush=True)
    shutil.rmtree(work, ignore_errors=True)
    s_wall = statistics.median(w for w, _ in siap_runs)
    d_wall = statistics.median(w for w, _ in duck_runs)
    if not agree:
        print(f"MISMATCH at {shape} {size}: siap and DuckDB readiness tables differ", file=sys.stderr)
    return dict(
        shape=shape, size=size, input_mb=round(mb), runs=runs,
        siap_s=s_wall, siap_peak_mib=round(max(m for _, m in siap_runs)),
        duckdb_s=d_wall, duckdb_peak_mib=round(max(m for _, m in duck_runs)),
        ratio=round(s_wall / d_wall, 2), siap_mb_per_s=round(mb / s_wall), tables_agree=agree,
        duckdb_version=DUCKDB_VERSION,
        # Files whose bytes differ (empty: identical) on one thread and
        # with the baseline build, when checked.
        **{f"differ_{k}": v for k, v in same.items()},
    ), data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="M,L")
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--drop-data", action="store_true",
                    help="delete each case's generated campaign after it (disk space)")
    ap.add_argument("--features", default="",
                    help="cargo features to build siap with (e.g. `distributed`, to reuse "
                         "the build of `cargo test --features distributed` instead of a "
                         "second build of polars with other features)")
    ap.add_argument("--check-threads", action="store_true",
                    help="also run siap with SIAP_THREADS=1 and compare every published file")
    ap.add_argument("--baseline", type=Path,
                    help="another siap binary (the code before a change): run it too and "
                         "compare every published file")
    args = ap.parse_args()
    checks = dict(threads=args.check_threads, baseline=args.baseline and args.baseline.resolve())
    py = venv_python()
    features = ["--features", args.features] if args.features else []
    sh(["cargo", "build", "--release", "--quiet", *features], cwd=ROOT)
    siap = ROOT / "target" / "release" / "siap"
    results = []
    for size in args.sizes.split(","):
        for shape in args.shapes.split(","):
            r, data = case(siap, py, shape, size, args.runs, checks)
            results.append(r)
            if args.drop_data:
                shutil.rmtree(data, ignore_errors=True)
    print()
    print(f"DuckDB {DUCKDB_VERSION}, {args.runs} runs each, medians")
    print("| shape | size | input | siap wall | siap peak | DuckDB wall | DuckDB peak | siap/DuckDB | siap MB/s | tables agree | same bytes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        checked = [(k[len("differ_"):].replace("_", " "), v) for k, v in r.items() if k.startswith("differ_")]
        same = "; ".join(f"{k}: " + ("yes" if not v else f"NO ({len(v)} files)") for k, v in checked) or "—"
        print(f"| {r['shape']} | {r['size']} | {r['input_mb']} MB | {r['siap_s']:.2f} s | {r['siap_peak_mib']} MiB | "
              f"{r['duckdb_s']:.2f} s | {r['duckdb_peak_mib']} MiB | {r['ratio']:.2f} | {r['siap_mb_per_s']} | "
              f"{'yes' if r['tables_agree'] else 'NO'} | {same} |")
    # Cases not run this time keep their last figures.
    path = BENCH / "results.json"
    fresh = {(r["shape"], r["size"]) for r in results}
    kept = json.loads(path.read_text()) if path.exists() else []
    kept = [r for r in kept if (r.get("shape"), r.get("size")) not in fresh]
    order = {s: i for i, s in enumerate(SHAPES)}
    merged = sorted(kept + results, key=lambda r: (r["size"], order.get(r.get("shape"), 99)))
    path.write_text(json.dumps(merged, indent=2) + "\n")
    ok = all(r["tables_agree"] and not any(v for k, v in r.items() if k.startswith("differ_"))
             for r in results)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
