"""Where a server's CPU goes: each process of a server's tree (the server, its model stubs, its
HTTP workers), CPU µs per successful inference while a command (a perf_analyzer run) runs.

    python3 benchmarks/proc_cpu.py SERVER_PID HTTP_URL MODEL -- perf_analyzer ...

prints one line per process: ``pid name user+sys µs/request``, and how often a request its main
thread went to sleep (voluntary context switches: a sleep and a wake-up, which on the 2-vCPU VM
cost more CPU than the work between them) or was preempted; then the command's own output.
Reads ``/proc`` (Linux) and the model's statistics over HTTP; standard library only, so it
runs on the GPU machine as is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_ticks(pid: int) -> dict[int, tuple[str, int, int]]:
    """``{pid: (name, user ticks, system ticks)}`` of ``pid`` and its live descendants."""
    parents: dict[int, int] = {}
    stats: dict[int, tuple[str, int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
        stats[int(entry.name)] = (name, int(fields[11]), int(fields[12]))
    tree, todo = {}, [pid]
    while todo:
        p = todo.pop()
        if p in stats:
            tree[p] = stats[p]
        todo.extend(child for child, parent in parents.items() if parent == p)
    return tree


def switches(pid: int) -> tuple[int, int]:
    """Voluntary and involuntary context switches of ``pid``'s main thread so far."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0, 0
    counts = dict(line.split(":\t") for line in lines if "ctxt_switches" in line)
    return int(counts["voluntary_ctxt_switches"]), int(counts["nonvoluntary_ctxt_switches"])


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its live descendants."""
    return sum(u + s for _, u, s in tree_ticks(pid).values()) / CLK_TCK


def successes(http_url: str, model: str) -> int:
    """The model's successful inference count from the server's HTTP statistics."""
    with urllib.request.urlopen(f"http://{http_url}/v2/models/{model}/stats", timeout=30) as r:
        stats = json.load(r)["model_stats"]
    return sum(s["inference_stats"]["success"]["count"] for s in stats)


def main() -> int:
    if "--" not in sys.argv or sys.argv.index("--") != 4:
        print(__doc__)
        return 2
    pid, url, model, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[5:]
    before, count = tree_ticks(pid), successes(url, model)
    slept = {p: switches(p) for p in before}
    out = subprocess.run(cmd, check=False, capture_output=True, text=True)
    after, count = tree_ticks(pid), successes(url, model) - count
    n = max(count, 1)
    for p, (name, user, system) in sorted(after.items()):
        _, u0, s0 = before.get(p, (name, 0, 0))
        (v0, i0), (v1, i1) = slept.get(p, (0, 0)), switches(p)
        per = 1e6 / CLK_TCK / n
        print(f"  cpu {p} {name}: {(user - u0) * per:.0f}u+{(system - s0) * per:.0f}s µs/request, "
              f"{(v1 - v0) / n:.2f} sleeps and {(i1 - i0) / n:.2f} preemptions a request")
    print(f"  cpu over {count} requests")
    sys.stdout.write(out.stdout + out.stderr)
    return out.returncode


if __name__ == "__main__":
    sys.exit(main())
