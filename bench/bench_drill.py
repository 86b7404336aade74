"""Time to build a drill from the full list (every NIH boxed film and the normals); prints ONE JSON object.

    python bench/bench_drill.py            # the project's list, 10 films, median of 20 builds
    python bench/bench_drill.py --n 40 --repeats 50

A build reads and checks cases/drill_films.csv (one row per box), keeps the films fitting the draw (PA, one box),
and draws n of them balanced across the findings: what mh.drill does before it shows the first film. No film is
loaded, so no network or mirror is needed. Goal: well under a second.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import log, median_seconds  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="films per drill")
    parser.add_argument("--repeats", type=int, default=20, help="builds timed (the median is reported)")
    arguments = parser.parse_args()
    os.environ.pop("MEDGEMMA_IMAGE_MIRROR", None)  # the whole list, not a mirror's share of it
    os.environ.pop("MEDGEMMA_CASES_DIR", None)
    started = time.perf_counter()
    from medgemma_helpers import drills

    imported = time.perf_counter() - started
    films = drills.load_films()
    log(f"{sum(len(f.boxes) for f in films)} boxes on {sum(f.boxed for f in films)} films, "
        f"{sum(not f.boxed for f in films)} normals")
    first_started = time.perf_counter()
    drills.draw_films(n=arguments.n, seed=0)
    first = time.perf_counter() - first_started
    seconds, (chosen, _) = median_seconds(lambda: drills.draw_films(n=arguments.n, seed=1), arguments.repeats)
    print(json.dumps({"rows": sum(max(1, len(f.boxes)) for f in films), "films": len(films), "n": len(chosen),
                      "import_s": round(imported, 3), "first_build_s": round(first, 4),
                      "median_build_s": round(seconds, 4), "repeats": arguments.repeats, "goal_s": 1.0,
                      "within_goal": first < 1.0 and seconds < 1.0}))


if __name__ == "__main__":
    main()
