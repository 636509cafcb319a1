"""Measure how fast the template renders and how fast a render turns green.

Usage: ``uv run python benchmarks/template_speed.py [--runs N] [--json]``

* ``copy``: wall time of ``copier copy --defaults`` as a user runs it, from a plain folder
  and from this Git checkout (the README's command, which clones the checkout first).
* ``green``: wall time from a fresh default render to passing checks with a warm uv cache:
  ``uv sync``, ``ruff check``, ``ruff format --check``, ``mypy``, ``pytest``.

Each figure is the median of ``--runs`` runs after one warm-up run. Timed assertions do not
belong in the test suite: read the figures, and compare them with those CHANGELOG.md gives.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers.rendering import copy_template  # noqa: E402 - the test suite's helper, found just above

BIN = Path(sys.executable).parent
GREEN_STEPS = {
    "uv sync": ["sync"],
    "ruff check": ["run", "--no-sync", "ruff", "check"],
    "ruff format": ["run", "--no-sync", "ruff", "format", "--check"],
    "mypy": ["run", "--no-sync", "mypy"],
    "pytest": ["run", "--no-sync", "pytest", "-q"],
}


def sh(command: list[str], cwd: Path | None = None) -> None:
    """Run ``command``; stop the benchmark with its output if it fails."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_PYTHON": sys.executable}
    for name in ("VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE"):  # as on a developer's machine
        env.pop(name, None)
    result = subprocess.run(  # noqa: S603 - fixed commands, no shell
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


def timed(action: Callable[[], None]) -> float:
    """Return the wall time of ``action`` in seconds."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def median_of(runs: int, action: Callable[[int], None]) -> float:
    """Run ``action`` once to warm up, then ``runs`` times; return the median wall time."""
    action(-1)
    return statistics.median(timed(partial(action, i)) for i in range(runs))


def copy_times(work: Path, runs: int) -> dict[str, float]:
    """Time ``copier copy --defaults`` from a plain folder and from the Git checkout."""
    plain = copy_template(work / "plain-template")
    copier = str(BIN / "copier")

    def from_plain(i: int) -> None:
        sh([copier, "copy", "--quiet", "--defaults", str(plain), str(work / f"plain-{i}")])

    def from_checkout(i: int) -> None:
        destination = str(work / f"checkout-{i}")
        sh([copier, "copy", "--quiet", "--defaults", "--vcs-ref", "HEAD", str(ROOT), destination])

    return {
        "copy from a folder": median_of(runs, from_plain),
        "copy from the Git checkout": median_of(runs, from_checkout),
    }


def green_times(work: Path, runs: int) -> dict[str, float]:
    """Time each step from a fresh default render to passing checks (warm uv cache)."""
    uv = shutil.which("uv", path=str(BIN)) or "uv"
    samples: dict[str, list[float]] = {step: [] for step in GREEN_STEPS}
    template = copy_template(work / "green-template")
    for i in range(-1, runs):
        project = work / f"green-{i}"
        sh([str(BIN / "copier"), "copy", "--quiet", "--defaults", str(template), str(project)])
        for step, arguments in GREEN_STEPS.items():
            elapsed = timed(partial(sh, [uv, *arguments], project))
            if i >= 0:
                samples[step].append(elapsed)
    result = {step: statistics.median(values) for step, values in samples.items()}
    result["render to green"] = sum(result.values())
    return result


def main() -> None:
    """Run the benchmarks and print a table (or JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per figure")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="copier-ml-bench-") as tmp:
        results = copy_times(Path(tmp), args.runs) | green_times(Path(tmp), args.runs)
    if args.json:
        print(json.dumps({name: round(value, 3) for name, value in results.items()}, indent=2))
        return
    width = max(map(len, results))
    for name, value in results.items():
        print(f"{name:<{width}}  {value:6.2f} s")


if __name__ == "__main__":
    main()
