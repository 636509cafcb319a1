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

from helpers.lifecycle import release_history
from helpers.rendering import GIT_ENVIRONMENT, answer_sets, copy_template
from helpers.sharing import Renders, build_once, shared_root


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The folder every xdist worker of this run shares (see ``helpers/sharing.py``)."""
    return shared_root(tmp_path_factory, worker_id)


@pytest.fixture(scope="session")
def template(shared: Path) -> Path:
    """A Git-free copy of the template, made once per run."""
    build_once(shared, "template", copy_template)
    return shared / "template"


@pytest.fixture(scope="session")
def history(shared: Path) -> Path:
    """A Git repository of the template with three tagged releases (see ``lifecycle.py``)."""
    build_once(shared, "history", lambda path: release_history(path / "copier-ml"))
    return shared / "history" / "copier-ml"


@pytest.fixture
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give Git, as Copier runs it in this process, an identity and no user configuration."""
    for name, value in GIT_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def renders(template: Path, shared: Path) -> Renders:
    """Every answer set of the quick layer, rendered once per run when first read, by name.

    Any worker may run a test that reads it: the first one to need a render makes it.
    """
    return Renders(template, shared / "renders", answer_sets())
