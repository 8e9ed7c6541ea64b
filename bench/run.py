"""Benchmark the main job on one-machine labs of N nodes, against the one-SSH-per-host floor.

    python bench/run.py [--nodes 3,10,20] [--runs 3] [--out bench/results]

For each N: `kubewire lab up --nodes N` (timed), then per run a fresh lab and a first converge
of deploys/cluster.py (package operations timed separately), and no-change re-runs.
Each pyinfra run counts its remote commands per host and the controller's peak memory. The
floor runs the very commands a no-change run sent, as one shell script per host over one SSH
connection. Writes results.json and results.md (naming the machine) into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubewire import lab  # noqa: E402

INVENTORY = ROOT / "inventories" / "local.py"
DEPLOY = ROOT / "deploys" / "cluster.py"


def counted_run() -> dict:
    """One pyinfra run of the main job: wall seconds, commands per host, op timings, peak RSS."""
    with tempfile.NamedTemporaryFile(suffix=".json") as counts:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "counted_pyinfra.py"), str(INVENTORY), str(DEPLOY), "-y"],
            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "KUBEWIRE_BENCH_COUNTS": counts.name},
        )
        seconds = time.monotonic() - started
        if result.returncode != 0:
            raise SystemExit(f"pyinfra failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        data = json.load(open(counts.name))
    package_seconds = sum(data["package_seconds"].values())  # apt.packages operations, however named
    return {"seconds": seconds, "package_seconds": package_seconds, "commands": data["commands"],
            "events": data["events"], "peak_rss_mib": data["peak_rss_kib"] / 1024}


def floor_run(events: dict[str, list], nodes: list[lab.LabNode]) -> dict:
    """Replay what pyinfra sent each host as one script over one connection per host."""
    addresses = {node.name: str(node.ip) for node in nodes}
    hosts = {name: {"address": addresses[name], "events": host_events} for name, host_events in events.items()}
    with tempfile.NamedTemporaryFile("w", suffix=".json") as spec:
        json.dump(hosts, spec)
        spec.flush()
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "floor.py"), spec.name],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def per_host(runs: list[dict]) -> dict:
    counts = [count for run in runs for count in run["commands"].values()]
    return {"median": statistics.median(counts), "max": max(counts)}


def bench_size(count: int, runs: int) -> dict:
    up_seconds, converges, reruns, floors, converge_floors = [], [], [], [], []
    for _ in range(runs):
        lab.down(log=lambda *_: None)  # `lab up` is timed from no lab, its rootfs cached
        started = time.monotonic()
        nodes = lab.up(count, log=lambda *_: None)
        up_seconds.append(time.monotonic() - started)
        converges.append(counted_run())
        reruns.append(counted_run())
        floors.append(floor_run(reruns[-1]["events"], nodes))
        lab.up(count, recreate=True, log=lambda *_: None)  # the converge floor starts from fresh nodes too
        converge_floors.append(floor_run(converges[-1]["events"], nodes))
        print(f"  {count} nodes: lab up {up_seconds[-1]:.1f}s, converge {converges[-1]['seconds']:.1f}s "
              f"(floor {converge_floors[-1]['seconds']:.1f}s), re-run {reruns[-1]['seconds']:.2f}s "
              f"(floor {floors[-1]['seconds']:.2f}s)", flush=True)
    converge = summary([run["seconds"] for run in converges])
    packages = summary([run["package_seconds"] for run in converges])
    without_packages = summary([run["seconds"] - run["package_seconds"] for run in converges])
    rerun = summary([run["seconds"] for run in reruns])
    floor = summary([run["seconds"] for run in floors])
    converge_floor = summary([run["seconds"] - run["package_seconds"] for run in converge_floors])
    return {
        "nodes": count,
        "lab_up_seconds": summary(up_seconds),
        "converge_seconds": converge,
        "converge_package_seconds": packages,
        "converge_without_packages_seconds": without_packages,
        "converge_commands_per_host": per_host(converges),
        "rerun_seconds": rerun,
        "rerun_commands_per_host": per_host(reruns),
        "floor_seconds": floor,
        "converge_floor_without_packages_seconds": converge_floor,
        # Ratios per run (each run against its own floor), so their spread is published too.
        "rerun_to_floor": summary([run["seconds"] / fl["seconds"] for run, fl in zip(reruns, floors, strict=True)]),
        "converge_without_packages_to_floor": summary([
            (run["seconds"] - run["package_seconds"]) / (fl["seconds"] - fl["package_seconds"])
            for run, fl in zip(converges, converge_floors, strict=True)]),
        "peak_rss_mib": max(run["peak_rss_mib"] for run in converges + reruns),
    }


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(os.sysconf("SC_PAGE_SIZE")
            * os.sysconf("SC_PHYS_PAGES") / 2**30), "kernel": platform.release(),
            "python": platform.python_version()}


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, "
        f"Python {m['python']}; {results['runs']} runs per size, median (min-max).",
        "",
        "| nodes | lab up | first converge | of which packages | converge floor w/o packages "
        "| converge w/o packages / floor "
        "| no-change re-run | re-run floor | re-run / floor | commands/host (re-run) | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in results["sizes"]:
        def fmt(key, size=size, unit="s"):
            s = size[key]
            return f"{s['median']:.2f}{unit} ({s['min']:.2f}-{s['max']:.2f})"
        lines.append(
            f"| {size['nodes']} | {fmt('lab_up_seconds')} | {fmt('converge_seconds')} "
            f"| {fmt('converge_package_seconds')} | {fmt('converge_floor_without_packages_seconds')} "
            f"| {fmt('converge_without_packages_to_floor', unit='x')} "
            f"| {fmt('rerun_seconds')} | {fmt('floor_seconds')} "
            f"| {fmt('rerun_to_floor', unit='x')} "
            f"| {size['rerun_commands_per_host']['median']:g} (max {size['rerun_commands_per_host']['max']}) "
            f"| {size['peak_rss_mib']:.0f} MiB |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", default="3,10,20", help="comma-separated lab sizes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    results = {"machine": machine(), "runs": args.runs, "sizes": []}
    try:
        for count in (int(n) for n in args.nodes.split(",")):
            print(f"benchmarking {count} nodes", flush=True)
            results["sizes"].append(bench_size(count, args.runs))
    finally:
        lab.down(log=lambda *_: None)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    (args.out / "results.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
