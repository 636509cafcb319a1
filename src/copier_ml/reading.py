"""Read a project's configuration files as data, whatever a hostile project put there.

The conformance run reads files of projects it does not control. A file that is not a
regular file (a FIFO would block the reader for ever, ``/dev/zero`` would fill memory),
one larger than ``MAX_BYTES``, one that is not UTF-8, YAML whose aliases expand it past
``MAX_NODES`` values (a "billion laughs" bomb: kilobytes that read as gigabytes) or that
nests deeper than ``MAX_DEPTH``: each is an ``Unreadable`` naming the file and the reason,
for the check that needed it to report.
"""

import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# The configuration files a check reads are kilobytes; this leaves room for any real one.
MAX_BYTES = 1_000_000
# A real CI file holds a few thousand values with its aliases expanded, a few levels deep.
MAX_NODES = 100_000
MAX_DEPTH = 50

Config = dict[str, Any]


class Unreadable(Exception):  # noqa: N818 - reads as the verdict: "Unreadable: <why>"
    """A file the checks need cannot be read as data; the message says which and why."""


@dataclass(frozen=True)
class Reference:
    """GitLab's ``!reference [job, key]``: the value of ``key`` in another job."""

    path: tuple[str, ...]


class LimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing documents nested past ``MAX_DEPTH``.

    It also reads GitLab's ``!reference`` tags (as ``Reference``), so one loader serves
    every file the checks read.
    """

    def __init__(self, stream: str) -> None:
        """Load ``stream``, counting the depth as nodes are composed."""
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose one node, refusing too deep a nesting."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise yaml.YAMLError(f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _reference(loader: yaml.SafeLoader, node: yaml.Node) -> Reference:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(
            None, None, "!reference takes a list", node.start_mark
        )
    return Reference(tuple(map(str, loader.construct_sequence(node))))


LimitedLoader.add_constructor("!reference", _reference)


def read_text(path: Path, name: str) -> str:
    """Return the text of ``path``, a regular file of at most ``MAX_BYTES`` bytes of UTF-8.

    Raises:
        FileNotFoundError: there is no such file.
        Unreadable: it is something else than a regular file, too large, or not UTF-8.
    """
    try:
        # O_NONBLOCK: a FIFO put in the file's place between the check and the open must
        # not block the run.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as error:
        raise Unreadable(f"{name} cannot be opened: {error.strerror}") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise Unreadable(f"{name} is not a regular file")
    with os.fdopen(descriptor, "rb") as stream:
        content = stream.read(MAX_BYTES + 1)
    if len(content) > MAX_BYTES:
        raise Unreadable(f"{name} is larger than {MAX_BYTES:,} bytes")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable(f"{name} is not UTF-8 text") from None


def expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Count the values ``node`` holds once its aliases are expanded (``sizes``: a memo).

    An alias is the node it names, so each node is counted once however often it is named:
    the count costs the document's size, not its expanded size.
    """
    if id(node) not in sizes:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        sizes[id(node)] = 1 + sum(expanded_size(child, sizes) for child in children)
    return sizes[id(node)]


def parse_yaml(text: str, name: str) -> object:
    """Parse YAML ``text`` with ``LimitedLoader``.

    Raises:
        Unreadable: it does not parse, nests too deep, or expands past ``MAX_NODES``.
    """
    loader = LimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if (size := expanded_size(node, {})) > MAX_NODES:
            problem = f"its aliases expand it to {size:,} values, more than {MAX_NODES:,}"
            raise Unreadable(f"{name} is refused: {problem}")
        return loader.construct_document(node)
    except (yaml.YAMLError, RecursionError) as error:
        raise Unreadable(f"{name} does not parse: {error}") from None
    finally:
        loader.dispose()


def parse_toml(text: str, name: str) -> Config:
    """Parse TOML ``text``.

    Raises:
        Unreadable: it does not parse.
    """
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as error:
        raise Unreadable(f"{name} does not parse: {error}") from None


@dataclass(frozen=True)
class Loaded:
    """A configuration file as data, or why it could not be read.

    ``data`` is the parsed mapping; ``problem`` says why there is none. A file that is not
    there has neither: ``present`` tells it apart.
    """

    name: str
    data: Config | None = None
    problem: str | None = None
    present: bool = True

    @property
    def missing(self) -> str:
        """The problem to report when a check needs the file and cannot have it."""
        return self.problem or f"{self.name} is missing"


def load(root: Path, name: str, kind: str) -> Loaded:
    """Read the mapping in ``root / name`` as YAML or TOML (``kind``), whatever it holds."""
    try:
        text = read_text(root / name, name)
        data = parse_toml(text, name) if kind == "toml" else parse_yaml(text, name)
    except FileNotFoundError:
        return Loaded(name, present=False)
    except NotADirectoryError:
        return Loaded(name, problem=f"{name} is not in a folder", present=False)
    except Unreadable as error:
        return Loaded(name, problem=str(error))
    if not isinstance(data, dict):
        return Loaded(name, problem=f"{name} is not a mapping")
    return Loaded(name, data)


def mapping(value: object) -> Config:
    """Return ``value`` when it is a mapping (a TOML table, a YAML mapping), else ``{}``."""
    return value if isinstance(value, dict) else {}


def entries(value: object) -> list[Any]:
    """Return ``value`` when it is a list (a TOML array, a YAML sequence), else ``[]``."""
    return value if isinstance(value, list) else []
