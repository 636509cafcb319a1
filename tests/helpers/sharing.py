"""Build once per test run what every pytest-xdist worker reads: the template, the renders.

Each xdist worker is a process with its own session fixtures, so a session fixture that
renders thirty projects renders them once per worker, or, pinned to one worker by an xdist
group, makes every test that reads them wait in that worker's queue. Here each thing is
built in a folder that all the workers of a run share (the parent of a worker's base
temporary folder, as pytest-xdist's documentation suggests), under a file lock, by the
first worker that needs it. A marker written after the build says the folder is whole: a
folder without one (its builder failed) is built again by the next worker that needs it.
"""

import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from filelock import FileLock, Timeout

from .rendering import Answers, Render, read_answers, render


def shared_root(factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """Return the folder that every worker of this run shares (a plain run's own)."""
    base = factory.getbasetemp()
    root = base if worker_id == "master" else base.parent
    return root / "shared"


def build_once(
    root: Path, name: str, build: Callable[[Path], object], *, wait: bool = True
) -> bool:
    """Make ``root/name`` with ``build(path)`` unless a worker of this run has made it.

    Returns whether it is built: ``False`` only when ``wait`` is off and another worker is
    building it now.
    """
    root.mkdir(parents=True, exist_ok=True)
    built = root / f"{name}.built"
    if built.exists():
        return True
    try:
        with FileLock(root / f"{name}.lock", timeout=-1 if wait else 0):
            if not built.exists():
                path = root / name
                if path.exists():
                    shutil.rmtree(path)
                build(path)
                built.touch()
    except Timeout:
        return False
    return True


class Renders(Mapping[str, Render]):
    """The quick layer's answer sets, each rendered once per run, when a test first needs it.

    ``renders[name]`` renders one set (or waits for the worker rendering it). Going through
    all of them (``values()``, ``items()``) first renders those no other worker is making,
    then waits for the rest: two workers that need every render make about half each.
    """

    def __init__(self, template: Path, root: Path, answer_sets: Mapping[str, Answers]) -> None:
        """Render from ``template`` into ``root``, one folder per name of ``answer_sets``."""
        self._template = template
        self._root = root
        self._answer_sets = dict(answer_sets)
        self._read: dict[str, Answers] = {}

    def _build(self, name: str, *, wait: bool) -> bool:
        answers = self._answer_sets[name]
        return build_once(
            self._root, name, lambda path: render(self._template, path, answers), wait=wait
        )

    def __getitem__(self, name: str) -> Render:
        """Return the project of ``name`` and the answers Copier recorded in it."""
        if name not in self._answer_sets:
            raise KeyError(name)
        self._build(name, wait=True)
        project = self._root / name
        if name not in self._read:
            self._read[name] = read_answers(project)
        return project, self._read[name]

    def __iter__(self) -> Iterator[str]:
        """Render every set first, so that reading each after is cheap; yield the names."""
        waiting = [name for name in self._answer_sets if not self._build(name, wait=False)]
        for name in waiting:
            self._build(name, wait=True)
        return iter(self._answer_sets)

    def __len__(self) -> int:
        """The number of answer sets."""
        return len(self._answer_sets)
