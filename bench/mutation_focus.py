"""Kill rate of mutmut's mutants against a few chosen test files, run in one process (much faster than mutmut's
own per-mutant processes when the mutated code is reached by slow tests).

Run `mutmut run` first (it may be stopped once "Running stats" has begun: the mutants are written by then), then:

    python bench/mutation_focus.py --module concordance --tests tests/test_concordance*.py
    python bench/mutation_focus.py --module asking --sample 40 --tests tests/test_core.py tests/test_streaming.py

Mutants mutmut already recorded as killed count as killed; the rest are run against the given tests (-x), each
with a time limit (a timeout counts as killed). The figure is a lower bound: other test files may kill more.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import signal
import sys
from pathlib import Path

MUTANTS = Path("mutants")


class _Timeout(Exception):
    pass


def _on_alarm(signum: int, frame: object) -> None:
    raise _Timeout


def _pytest(arguments: list[str]) -> int:
    import pytest

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return int(pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:randomly", *arguments]))


def main() -> int:
    """Print each mutant's verdict and the module's kill rate."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", required=True, help="a module of medgemma_helpers, e.g. concordance")
    parser.add_argument("--tests", nargs="+", required=True, help="test files to run against each mutant")
    parser.add_argument("--sample", type=int, default=0, help="a random sample of this many mutants (0: all)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--limit", type=int, default=120, help="seconds per mutant before it counts as killed")
    options = parser.parse_args()

    meta = MUTANTS / "medgemma_helpers" / f"{options.module}.py.meta"
    if not meta.is_file():
        parser.error(f"{meta} not found: run `mutmut run` in the project root first.")
    recorded: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    names = sorted(recorded)
    if options.sample:
        names = random.Random(options.seed).sample(names, min(options.sample, len(names)))

    os.chdir(MUTANTS)
    sys.path[0] = os.getcwd()  # the mutated package, not bench/
    os.environ["MUTANT_UNDER_TEST"] = ""
    signal.signal(signal.SIGALRM, _on_alarm)
    # the interruption tests need Ctrl-C, which a job started in the background inherits as ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if _pytest(options.tests) != 0:
        print("The tests fail without any mutant: fix them first.")
        return 1
    killed = 0
    for number, name in enumerate(names, 1):
        if recorded[name] == 1:
            verdict = "killed (by mutmut)"
        else:
            os.environ["MUTANT_UNDER_TEST"] = name
            signal.alarm(options.limit)
            try:
                verdict = "killed" if _pytest(["-x", *options.tests]) != 0 else "SURVIVED"
            except _Timeout:
                verdict = "killed (timeout)"
            finally:
                signal.alarm(0)
        killed += verdict.startswith("killed")
        print(f"{number}/{len(names)} {verdict}: {name}", flush=True)
    print(f"{options.module}: {killed} of {len(names)} mutants killed ({100 * killed / len(names):.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
