"""How long the whole test suite takes here: the README's test command, timed; prints ONE JSON object.

    python bench/bench_suite.py                  # the suite as the README runs it (no mirror, no network)
    python bench/bench_suite.py --workers 1      # one process, for comparison
    python bench/bench_suite.py --mirror DIR     # with the real films (as CI's mirror run)
    python bench/bench_suite.py tests/test_cli.py  # only these test files

Not a test: the goal (the whole suite within 5 minutes on 2 cores) is reported, not asserted. It runs pytest only
(the install steps of the README's command are left out), with MEDGEMMA_IMAGE_MIRROR unset unless --mirror is given.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 300


def _pytest_arguments(readme: Path) -> list[str]:
    """The pytest part of the README's marked test command (after the last '&&')."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    marker = lines.index("<!-- test-command -->")
    command = lines[marker + 2].split("&&")[-1].split()
    start = command.index("pytest") + 1
    return command[start:]


def main() -> int:
    """Run the suite once and print its wall time, outcome and slowest tests as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", help="pytest-xdist workers instead of the README's (-n); 1 runs one process")
    parser.add_argument("--mirror", help="a folder of the real films (MEDGEMMA_IMAGE_MIRROR)")
    parser.add_argument("tests", nargs="*", help="test files to run (default: the whole suite)")
    args = parser.parse_args()
    arguments = _pytest_arguments(ROOT / "README.md")
    if args.workers:
        arguments = [a for a in arguments if a not in ("-n", "auto") and not a.startswith("--dist")]
        if args.workers != "1":
            arguments += ["-n", args.workers, "--dist", "loadfile"]
    env = {k: v for k, v in os.environ.items() if k != "MEDGEMMA_IMAGE_MIRROR"}
    if args.mirror:
        env["MEDGEMMA_IMAGE_MIRROR"] = str(Path(args.mirror).resolve())
    command = [sys.executable, "-m", "pytest", "-q", "--durations=10", *arguments, *args.tests]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    # CPU time of pytest, its workers and every kernel or subprocess they waited for: what the suite costs whatever
    # else the machine runs (wall time on a busy machine says more about the others).
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_after = os.getloadavg()[0]
    summary = next((line for line in reversed(done.stdout.splitlines()) if re.search(r"\d+ (passed|failed)", line)),
                   "")
    slowest = [line.strip() for line in done.stdout.splitlines() if re.match(r"\s*\d+\.\d+s (call|setup)", line)]
    print(json.dumps({
        "command": " ".join(["python", "-m", "pytest", *arguments, *args.tests]),
        "seconds": round(seconds, 1), "goal_seconds": GOAL_SECONDS, "within_goal": seconds <= GOAL_SECONDS,
        "outcome": summary.strip("= "), "exit_code": done.returncode,
        "cpu_seconds": round(used.ru_utime + used.ru_stime, 1),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_before": round(load_before, 2), "load_average_after": round(load_after, 2),
        "mirror": bool(args.mirror), "slowest": slowest,
        "not_passed": [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))],
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
