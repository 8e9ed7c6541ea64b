"""Benchmark the main job on one-machine labs of N nodes, against the one-SSH-per-host floor.

    python bench/run.py [--nodes 3,10,20,50] [--runs 3] [--reruns 3] [--out bench/results]

For each N: `kubewire lab up --nodes N` (timed), then per run a fresh lab and a first converge
of deploys/cluster.py (package operations timed separately), and no-change re-runs. Each
re-run is interleaved with the two references it is compared to, measured in the same moment:
the bare SSH round (one connection per host running `true`, all hosts in parallel) and pyinfra
with an empty deploy on the same inventory. Each pyinfra run counts its remote commands per
host and the controller's peak memory. The floor runs the very commands a run sent, as one
shell script per host over one SSH connection. Writes results.json and results.md (naming the
machine and its load) into --out.
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
EMPTY_DEPLOY = ROOT / "bench" / "empty_deploy.py"
# Every measured program runs as Python runs by default, writing and reusing compiled modules: with
# PYTHONDONTWRITEBYTECODE set (some machines set it), each run would compile kubewire's own modules
# again, a cost of the machine's setup and not of a run.
MEASURED_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def compile_kubewire() -> None:
    """kubewire's modules compiled once, as pip compiles a package it installs: pyinfra's CLI turns
    writing bytecode off (pyinfra_cli/main.py, `sys.dont_write_bytecode = True`), so a module first
    imported inside a run would otherwise be compiled again on every measured run."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "kubewire"), str(ROOT / "roles")],
                   check=True, stdout=subprocess.DEVNULL)


def counted_run(deploy: Path = DEPLOY) -> dict:
    """One pyinfra run of the main job: wall seconds, commands per host, op timings, peak RSS."""
    with tempfile.NamedTemporaryFile(suffix=".json") as counts:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "counted_pyinfra.py"), str(INVENTORY), str(deploy), "-y"],
            cwd=ROOT, capture_output=True, text=True, env={**MEASURED_ENV, "KUBEWIRE_BENCH_COUNTS": counts.name},
        )
        seconds = time.monotonic() - started
        if result.returncode != 0:
            raise SystemExit(f"pyinfra failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        data = json.load(open(counts.name))
    package_seconds = sum(data["package_seconds"].values())  # apt.packages operations, however named
    return {"seconds": seconds, "package_seconds": package_seconds, "commands": data["commands"],
            "events": data["events"], "peak_rss_mib": data["peak_rss_kib"] / 1024}


def floor_run(events: dict[str, list] | None, nodes: list[lab.LabNode]) -> dict:
    """Replay what pyinfra sent each host as one script over one connection per host (events None:
    the bare SSH round, `true` on every host)."""
    addresses = {node.name: str(node.ip) for node in nodes}
    hosts = ({name: {"address": address, "events": None} for name, address in addresses.items()} if events is None
             else {name: {"address": addresses[name], "events": host_events} for name, host_events in events.items()})
    with tempfile.NamedTemporaryFile("w", suffix=".json") as spec:
        json.dump(hosts, spec)
        spec.flush()
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "floor.py"), spec.name],
                             cwd=ROOT, capture_output=True, text=True, check=True, env=MEASURED_ENV).stdout
    return json.loads(out)


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def per_host(runs: list[dict]) -> dict:
    counts = [count for run in runs for count in run["commands"].values()]
    return {"median": statistics.median(counts), "max": max(counts)}


def ratios(numerators: list[dict], denominators: list[dict]) -> dict:
    """Each run against the reference measured next to it, so their spread is published too."""
    return summary([run["seconds"] / ref["seconds"] for run, ref in zip(numerators, denominators, strict=True)])


def bench_size(count: int, runs: int, reruns: int) -> dict:
    up_seconds, converges, converge_floors = [], [], []
    rerun_runs, ssh_rounds, empty_runs, floors = [], [], [], []
    for _ in range(runs):
        lab.down(log=lambda *_: None)  # `lab up` is timed from no lab, its rootfs cached
        started = time.monotonic()
        nodes = lab.up(count, log=lambda *_: None)
        up_seconds.append(time.monotonic() - started)
        converges.append(counted_run())
        for _ in range(reruns):  # interleaved: the machine's load drifts alike for all three
            rerun_runs.append(counted_run())
            ssh_rounds.append(floor_run(None, nodes))
            empty_runs.append(counted_run(EMPTY_DEPLOY))
        floors.append(floor_run(rerun_runs[-1]["events"], nodes))
        lab.up(count, recreate=True, log=lambda *_: None)  # the converge floor starts from fresh nodes too
        converge_floors.append(floor_run(converges[-1]["events"], nodes))
        print(f"  {count} nodes: lab up {up_seconds[-1]:.1f}s, converge {converges[-1]['seconds']:.1f}s "
              f"(floor {converge_floors[-1]['seconds']:.1f}s), re-run {rerun_runs[-1]['seconds']:.2f}s "
              f"(SSH round {ssh_rounds[-1]['seconds']:.2f}s, empty deploy {empty_runs[-1]['seconds']:.2f}s, "
              f"replay floor {floors[-1]['seconds']:.2f}s); load {os.getloadavg()[0]:.1f}", flush=True)
    without_packages = [{"seconds": run["seconds"] - run["package_seconds"]} for run in converges]
    floors_without_packages = [{"seconds": fl["seconds"] - fl["package_seconds"]} for fl in converge_floors]
    return {
        "nodes": count,
        "lab_up_seconds": summary(up_seconds),
        "converge_seconds": summary([run["seconds"] for run in converges]),
        "converge_package_seconds": summary([run["package_seconds"] for run in converges]),
        "converge_without_packages_seconds": summary([run["seconds"] for run in without_packages]),
        "converge_commands_per_host": per_host(converges),
        "converge_floor_without_packages_seconds": summary([fl["seconds"] for fl in floors_without_packages]),
        "converge_without_packages_to_floor": ratios(without_packages, floors_without_packages),
        "rerun_seconds": summary([run["seconds"] for run in rerun_runs]),
        "rerun_commands_per_host": per_host(rerun_runs),
        "ssh_round_seconds": summary([run["seconds"] for run in ssh_rounds]),
        "empty_deploy_seconds": summary([run["seconds"] for run in empty_runs]),
        "floor_seconds": summary([run["seconds"] for run in floors]),
        "rerun_to_ssh_round": ratios(rerun_runs, ssh_rounds),
        "rerun_to_empty_deploy": ratios(rerun_runs, empty_runs),
        "rerun_to_floor": ratios(rerun_runs[reruns - 1::reruns], floors),
        "peak_rss_mib": max(run["peak_rss_mib"] for run in converges + rerun_runs),
    }


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(os.sysconf("SC_PAGE_SIZE")
            * os.sysconf("SC_PHYS_PAGES") / 2**30), "kernel": platform.release(),
            "python": platform.python_version()}


def slope(sizes: list[dict], key: str, low: int = 20, high: int = 50) -> float | None:
    """Seconds per added node from `low` to `high` nodes (medians), when both were measured."""
    by_nodes = {size["nodes"]: size[key]["median"] for size in sizes}
    if low in by_nodes and high in by_nodes:
        return (by_nodes[high] - by_nodes[low]) / (high - low)
    return None


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, "
        f"Python {m['python']}; load average {results.get('load_before', '?')} before, "
        f"{results.get('load_after', '?')} after; {results['runs']} runs per size "
        f"({results.get('reruns', 1)} re-runs each, interleaved with their references), median (min-max).",
        "",
        "| nodes | lab up | first converge | of which packages | converge w/o packages / replay floor "
        "| no-change re-run | bare SSH round | pyinfra empty deploy | re-run / SSH round | re-run / empty deploy "
        "| re-run / replay floor | commands/host (re-run) | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in results["sizes"]:
        def fmt(key, size=size, unit="s"):
            s = size[key]
            return f"{s['median']:.2f}{unit} ({s['min']:.2f}-{s['max']:.2f})"
        lines.append(
            f"| {size['nodes']} | {fmt('lab_up_seconds')} | {fmt('converge_seconds')} "
            f"| {fmt('converge_package_seconds')} | {fmt('converge_without_packages_to_floor', unit='x')} "
            f"| {fmt('rerun_seconds')} | {fmt('ssh_round_seconds')} | {fmt('empty_deploy_seconds')} "
            f"| {fmt('rerun_to_ssh_round', unit='x')} | {fmt('rerun_to_empty_deploy', unit='x')} "
            f"| {fmt('rerun_to_floor', unit='x')} "
            f"| {size['rerun_commands_per_host']['median']:g} (max {size['rerun_commands_per_host']['max']}) "
            f"| {size['peak_rss_mib']:.0f} MiB |")
    slopes = {label: slope(results["sizes"], key) for label, key in (
        ("no-change re-run", "rerun_seconds"), ("bare SSH round", "ssh_round_seconds"),
        ("pyinfra empty deploy", "empty_deploy_seconds"), ("first converge", "converge_seconds"))}
    if all(value is not None for value in slopes.values()):
        lines += ["", "Per added node from 20 to 50 nodes: "
                  + ", ".join(f"{label} {value * 1000:+.0f} ms" for label, value in slopes.items()) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", default="3,10,20", help="comma-separated lab sizes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reruns", type=int, default=3, help="no-change re-runs per run (each with its references)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    results = {"machine": machine(), "runs": args.runs, "reruns": args.reruns, "sizes": [],
               "load_before": " ".join(f"{load:.1f}" for load in os.getloadavg())}
    compile_kubewire()
    try:
        for count in (int(n) for n in args.nodes.split(",")):
            print(f"benchmarking {count} nodes", flush=True)
            results["sizes"].append(bench_size(count, args.runs, args.reruns))
    finally:
        lab.down(log=lambda *_: None)
    results["load_after"] = " ".join(f"{load:.1f}" for load in os.getloadavg())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    (args.out / "results.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
