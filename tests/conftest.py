"""Fixtures of the template test suite.

Three layers share these fixtures:

* the quick layer renders the template many times and checks the files statically;
* the update layer (``@pytest.mark.update``) builds template repositories with several
  releases and updates projects generated from the older ones;
* the full layer (``@pytest.mark.slow``) installs a few renders with uv and runs each
  generated project's own checks.

All run in parallel under pytest-xdist; see ``README.md`` for the commands.
"""

from pathlib import Path

import pytest
from _pytest.nodeid import NodeId

from lifecycle import release_history
from rendering import GIT_ENVIRONMENT, Render, answer_sets, copy_template, read_answers, render


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep ``xdist_group`` working: suffix each grouped test's node id with its group.

    Under ``--dist loadgroup`` pytest-xdist sends tests whose node ids end in the same
    ``@group`` to one worker, so a render is installed once. xdist 3.8 adds the suffix by
    setting ``item._nodeid``, which pytest 9.2 no longer reads (node ids live in
    ``item._id``), so without this every test would be its own group.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        groups = sorted({str(mark.args[0]) for mark in item.iter_markers("xdist_group")})
        if groups and "@" not in item.nodeid.rpartition("]")[2]:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Git-free copy of the template, made once per test process."""
    return copy_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Git repository of the template with three tagged releases (see ``lifecycle.py``)."""
    return release_history(tmp_path_factory.mktemp("history") / "copier-ml")


@pytest.fixture
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give Git, as Copier runs it in this process, an identity and no user configuration."""
    for name, value in GIT_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def renders(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Render]:
    """Every answer set of the quick layer rendered once, by name, with the recorded answers.

    Tests that use it carry the ``RENDERS_GROUP`` xdist group: one worker renders the set
    and runs them all.
    """
    root = tmp_path_factory.mktemp("renders")
    rendered = {}
    for name, answers in answer_sets().items():
        project = render(template, root / name, answers)
        rendered[name] = (project, read_answers(project))
    return rendered
