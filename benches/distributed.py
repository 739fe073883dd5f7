#!/usr/bin/env python3
"""The distributed path's figures, next to `siap run` on the same campaign.

    python3 benches/distributed.py [--size M] [--partitions 4]

Builds siap with the `distributed` feature, generates the size's campaign
(`siap generate`, the harness's first shape; kept in benches/data/ as
bench.py keeps it), then times, each under /usr/bin/time (wall seconds,
peak RSS of that process):

- `siap run`;
- `siap plan`, every `siap stage` task (one after another), `siap resolve
  --engine local`, and `siap resolve` again on a Ballista cluster of one
  scheduler and two executors (separate processes on 127.0.0.1), with the
  bytes the executors wrote as shuffle files (polled every 20 ms: a
  stage's files are removed once read, so this is a lower bound); then
  `siap finish`;

checks that `finish` published the bytes `run` did (every table), and
prints the figures (also written to benches/distributed.json). No test
asserts a time.
"""

import argparse
import filecmp
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the campaign sizes and generator call)

ROOT, BENCH, DATE = bench.ROOT, bench.BENCH, bench.DATE


def timed(cmd, **kw):
    """(wall s, peak MiB, stdout) of cmd run under /usr/bin/time."""
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", *map(str, cmd)],
        check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw,
    )
    wall, kib = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kib) / 1024, out.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port):
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on {port}")


class Cluster:
    """A scheduler and two executors, each under /usr/bin/time."""

    def __init__(self, siap, scratch):
        self.scratch = scratch
        self.port = free_port()
        self.procs = []
        self.start("scheduler", [siap, "cluster", "scheduler", "--bind", f"127.0.0.1:{self.port}"])
        wait_for(self.port)
        for i in range(2):
            flight = free_port()
            self.start(f"executor-{i}", [
                siap, "cluster", "executor", "--scheduler", f"127.0.0.1:{self.port}",
                "--bind", f"127.0.0.1:{flight}", "--work-dir", scratch / f"executor-{i}",
                "--vcores", "2"])
            wait_for(flight)

    def start(self, name, cmd):
        log = open(self.scratch / f"{name}.log", "w")
        p = subprocess.Popen(["/usr/bin/time", "-f", "%e %M", *map(str, cmd)],
                             stdout=subprocess.DEVNULL, stderr=log)
        self.procs.append((name, p))

    def watch_shuffle(self):
        """Polls the executors' shuffle files (an intermediate stage's are
        removed once the next stage has read them) until stopped; each
        file's largest size is kept, for `shuffled_bytes`."""
        self.seen, self.watching = {}, True

        def poll():
            while self.watching:
                for i in range(2):
                    for dirpath, _, files in os.walk(self.scratch / f"executor-{i}"):
                        for f in files:
                            path = os.path.join(dirpath, f)
                            try:
                                size = os.path.getsize(path)
                            except OSError:
                                continue
                            self.seen[path] = max(self.seen.get(path, 0), size)
                time.sleep(0.02)

        self.poller = threading.Thread(target=poll)
        self.poller.start()

    def shuffled_bytes(self):
        self.watching = False
        self.poller.join()
        return sum(self.seen.values())

    def stop(self):
        """Stops every process; their peak RSS in MiB, by name."""
        peaks = {}
        for name, p in self.procs:
            # /usr/bin/time's child: SIGTERM it, time still reports.
            child = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True)
            for pid in child.stdout.split():
                os.kill(int(pid), signal.SIGTERM)
            p.wait()
            last = (self.scratch / f"{name}.log").read_text().strip().splitlines()[-1].split()
            peaks[name] = int(last[-1]) / 1024
        return peaks


def same_tables(a, b):
    names = sorted(p.name for p in a.iterdir() if p.is_file() and p.name != "manifest.json")
    return names, [n for n in names if not filecmp.cmp(a / n, b / n, shallow=False)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="M", choices=bench.SIZES)
    ap.add_argument("--partitions", default="4")
    args = ap.parse_args()
    bench.sh(["cargo", "build", "--release", "--locked", "--features", "distributed"], cwd=ROOT)
    siap = ROOT / "target" / "release" / "siap"
    data = bench.generate(siap, "generate", args.size)
    pipeline = data / "pipeline.toml"
    scratch = BENCH / "data" / f"distributed-{args.size}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    work_run, work = scratch / "run", scratch / "dist"
    fig = {"size": args.size, **bench.SIZES[args.size], "partitions": int(args.partitions)}

    os.sync()
    fig["run"] = timed([siap, "run", pipeline, "--date", DATE, "--work-dir", work_run])[:2]
    wall, peak, out = timed([siap, "plan", pipeline, "--date", DATE, "--work-dir", work, "--run", "bench"])
    fig["plan"] = (wall, peak)
    feeds = [f["id"] for f in json.loads(out)["feeds"]]
    stages = [timed([siap, "stage", pipeline, "--work-dir", work, "--run", "bench", "--source", f])[:2]
              for f in feeds]
    fig["stage"] = dict(tasks=len(stages), total_s=round(sum(s[0] for s in stages), 2),
                        slowest_s=max(s[0] for s in stages), peak_mib=max(s[1] for s in stages))
    flight = work / "flights" / "bench"
    fig["keyed_bytes"] = sum(p.stat().st_size for p in (flight / "keyed").rglob("*.parquet"))

    resolve = [siap, "resolve", "--work-dir", work, "--run", "bench", "--partitions", args.partitions]
    fig["resolve_local"] = timed([*resolve, "--engine", "local"])[:2]
    shutil.rmtree(flight / "resolved")
    cluster = Cluster(siap, scratch)
    try:
        cluster.watch_shuffle()
        fig["resolve_cluster"] = timed([*resolve, "--engine", f"df://127.0.0.1:{cluster.port}"])[:2]
        fig["shuffled_bytes"] = cluster.shuffled_bytes()
    finally:
        fig["cluster_peaks_mib"] = cluster.stop()
    fig["finish"] = timed([siap, "finish", pipeline, "--work-dir", work, "--run", "bench"])[:2]

    names, differ = same_tables(work_run / "latest", work / "latest")
    fig["same_tables"] = not differ
    print(json.dumps(fig, indent=2))
    (BENCH / "distributed.json").write_text(json.dumps(fig, indent=2) + "\n")
    if differ:
        sys.exit(f"the distributed path published other bytes: {differ}")
    print(f"{len(names)} published files identical to `siap run`'s", file=sys.stderr)


if __name__ == "__main__":
    main()
