"""Run a benchmark stage as a child process and record its wall time, CPU seconds and peak memory (of its process
tree) and the machine's load meanwhile; read dbt's node times; publish the benchmark's report."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass
class StageResult:
    name: str
    seconds: float
    peak_rss_gb: float
    cpu_seconds: float = (
        0.0  # user + sys of every process of the tree seen by the sampler (100 ms granularity)
    )
    loads: tuple[float, ...] = ()  # the 1-minute load average, sampled every 5 s while the stage ran

    def row(self) -> str:
        return f"| {self.name} | {self.seconds:,.1f} s | {self.peak_rss_gb:,.2f} GB |"

    @property
    def load(self) -> str:
        """The load average while the stage ran: min-max (mean)."""
        if not self.loads:
            return ""
        return f"{min(self.loads):.1f}-{max(self.loads):.1f} (mean {statistics.fmean(self.loads):.1f})"


def node_seconds(target_dir: Path) -> dict[str, float]:
    """dbt execution time of every node of the last run (run_results.json), by unique id."""
    results = json.loads((target_dir / "run_results.json").read_text())["results"]
    return {r["unique_id"]: float(r["execution_time"]) for r in results}


def _tree_rss(process: psutil.Process, cpu: dict[int, float] | None = None) -> int:
    """The RSS of a process and its descendants; records each one's CPU seconds so far in `cpu` (by pid), which
    counts processes nobody waits for (a JVM started by a child), unlike the children's rusage."""
    total = 0
    with contextlib.suppress(psutil.Error):
        for proc in [process, *process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
                if cpu is not None:
                    times = proc.cpu_times()
                    cpu[proc.pid] = times.user + times.system
    return total


def run_stage(name: str, argv: list[str], env: dict[str, str] | None = None) -> StageResult:
    """Run argv, sampling the RSS and CPU of it and its children every 100 ms and the load average every 5 s;
    fail loudly on a non-zero exit."""
    print(f"[bench] {name}: {' '.join(argv)}", flush=True)
    started = time.perf_counter()
    child = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=sys.stdout, stderr=sys.stderr)
    watched = psutil.Process(child.pid)
    peak = 0
    cpu: dict[int, float] = {}
    loads: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        ticks = 0
        while not stop.is_set():
            peak = max(peak, _tree_rss(watched, cpu))
            if ticks % 50 == 0:
                loads.append(os.getloadavg()[0])
            ticks += 1
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = child.wait()
    stop.set()
    sampler.join()
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"[bench] {name} failed with exit code {code}")
    result = StageResult(name, seconds, peak / 1024**3, sum(cpu.values()), tuple(loads))
    print(
        f"[bench] {name}: {result.seconds:,.1f} s, CPU {result.cpu_seconds:,.1f} s, peak {result.peak_rss_gb:,.2f} GB",
        flush=True,
    )
    return result


RESULTS = Path(__file__).resolve().parent / "results"


def publish_report(lines: list[str], name: str) -> Path:
    """Print the report and add it on top of benchmarks/results/<name>.md, newest first.

    BENCHMARKS.md quotes these files by name from sections of different dates, so a run never replaces the
    output an earlier section cites.
    """
    report = "\n".join(lines)
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.md"
    earlier = path.read_text() if path.exists() else ""
    path.write_text(report + ("\n\n" + earlier if earlier else ""))
    return path
