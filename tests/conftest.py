"""Fixtures of the template test suite.

Two layers share these fixtures:

* the quick layer renders the template many times and checks the files statically;
* the full layer (``@pytest.mark.slow``) installs a few renders with uv and runs each
  generated project's own checks.

Both run in parallel under pytest-xdist; see ``README.md`` for the commands.
"""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from rendering import GIT_ENVIRONMENT, copy_template, render

RenderFn = Callable[..., Path]


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Git-free copy of the template, made once per test process."""
    return copy_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def render_project(template: Path, tmp_path: Path) -> RenderFn:
    """Render the template with the given answers into a fresh folder under ``tmp_path``."""

    def _render(answers: Mapping[str, Any] | None = None, name: str = "project") -> Path:
        return render(template, tmp_path / name, answers)

    return _render


@pytest.fixture
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give Git, as Copier runs it in this process, an identity and no user configuration."""
    for name, value in GIT_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
