"""Run a generated project's commands killed at their Nth write, as ``kill -9`` would kill them.

A write is a file opened for writing, a rename or a removal under the working folder, seen
through an audit hook (PEP 578), so every library's writes count, not only the project's
own. The process sends itself SIGKILL: no ``finally`` block, ``atexit`` hook or flush runs.
Run with this folder on ``PYTHONPATH`` and the project as the working folder, in either of
two ways:

* ``python -m fault_injection serve <package>`` imports every module of the package once,
  then reads one JSON request per line from standard input, ``{"argv": [...], "env":
  {...}, "kill_at": N, "log": "<file>"}``. For each, it forks a child that runs the
  package's command line with ``argv`` and ``env``, output to ``log``, killed at write
  ``kill_at`` (0: never), and writes one line back: the child's exit status, negative for
  the signal that ended it. Forking from an interpreter that has imported everything
  spares each of the full layer's hundred runs the seconds its imports take, and each
  child starts from the same state a new process would.
* ``python -m fault_injection <module> <arguments>`` runs the module as ``python -m`` would,
  in this process. ``FAULT_PAUSE_AT`` makes it wait at that write until the file
  ``FAULT_RELEASE`` exists: the test holds a command in the middle of its work.
"""

import importlib
import json
import os
import pkgutil
import runpy
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
# The exit status of a child whose command raised instead of returning one.
CRASHED = 70
FOLDER = Path.cwd()
state = {
    "seen": 0,
    "kill_at": 0,
    "pause_at": int(os.environ.get("FAULT_PAUSE_AT", "0")),
}
RELEASE = Path(os.environ.get("FAULT_RELEASE", "."))


def is_write(event: str, args: tuple[Any, ...]) -> bool:
    """Tell whether an audit event changes a file under ``FOLDER``."""
    if event == "open":
        path, mode, flags = args
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else flags & WRITE_FLAGS
    elif event in {"os.rename", "os.remove", "os.rmdir"}:
        path, writes = args[0], True
    else:
        return False
    if not writes or isinstance(path, int):
        return False
    return Path(os.fsdecode(path)).absolute().is_relative_to(FOLDER)


def at_the_nth_write(event: str, args: tuple[Any, ...]) -> None:
    """Count the writes under ``FOLDER``; die at the ``kill_at``-th, wait at the ``pause_at``-th."""
    if is_write(event, args):
        state["seen"] += 1
        if state["seen"] == state["kill_at"]:
            os.kill(os.getpid(), signal.SIGKILL)
        while state["seen"] == state["pause_at"] and not RELEASE.exists():
            time.sleep(0.05)


def preload(package: str) -> None:
    """Import every module of ``package``, as its commands would."""
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, f"{package}."):
        importlib.import_module(module.name)


def child(package: str, request: dict[str, Any]) -> None:
    """Run one request's command in this forked process, then leave it (never returns)."""
    code = CRASHED
    try:
        with Path(request["log"]).open("ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        os.environ.update(request.get("env", {}))
        state["kill_at"] = request.get("kill_at", 0)
        sys.addaudithook(at_the_nth_write)
        code = importlib.import_module(f"{package}.cli").main(request["argv"])
    except BaseException:  # noqa: BLE001 - report whatever the command raised, then exit
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(package: str) -> None:
    """Answer each request on standard input with the exit status of its forked run."""
    preload(package)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(package, request)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        sys.addaudithook(at_the_nth_write)
        sys.argv = sys.argv[1:]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
