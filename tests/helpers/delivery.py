"""Readers of the delivery files of a render: Dockerfile, .dockerignore, CI files.

The tests check these files by what the tools that consume them would understand: a
Dockerfile's instructions and words as BuildKit reads them, a .dockerignore as Docker
applies it, and a CI file as the list of shell commands its runner would execute.
"""

import json
import re
import shlex
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from copier_ml import ci
from copier_ml.reading import LimitedLoader

from .rendering import run

# The commands of a CI file that need what this machine lacks, and why. The local run
# skips them; every other command runs, in order.
SKIPPED_COMMANDS = {
    "docker": "needs a Docker engine; test_docker_image_builds_and_runs covers it where one answers",
}
# Settings of a CI runner that describe the runner, not the project: locally the test
# session's uv cache stands in for the runner's cache.
RUNNER_VARIABLES = {
    "UV_CACHE_DIR": "where the GitLab runner keeps uv's cache; locally the shared uv cache",
}
# Commands that reach a service on the internet: checked statically (test_delivery.py).
ONLINE_COMMANDS = {
    "pip-audit": "queries PyPI's vulnerability database; test_the_audit_jobs_check_the_lock",
    "zizmor": "with CI's token, also audits online (GitHub's API); its offline audits run in "
    "test_zizmor_reports_nothing and as the render's pre-commit hook",
}
# Jobs that need the CI service itself: its registry, its OIDC token.
SKIPPED_JOBS = {
    "publish": "pushes to GitLab's registry and signs through its OIDC token; "
    "test_images_are_published_signed_and_attested checks it",
}
RUNNER_COMMANDS = {
    "uv cache prune --ci": "trims the GitLab runner's cache; locally it would trim the shared one",
    "bash scripts/template-update.sh": (
        "the scheduled template update needs a newer template release and a remote to push "
        "to; test_template_update_job.py runs it against both"
    ),
}


@dataclass
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    arguments: str
    line: int

    @property
    def flags(self) -> dict[str, list[str]]:
        """Return the leading ``--name=value`` flags, by name (a flag may repeat)."""
        found: dict[str, list[str]] = {}
        for word in self.arguments.split():
            if not word.startswith("--"):
                break
            name, _, value = word[2:].partition("=")
            found.setdefault(name, []).append(value)
        return found

    @property
    def words(self) -> list[str]:
        """Return the arguments after the flags, split on whitespace."""
        words = self.arguments.split()
        while words and words[0].startswith("--"):
            words.pop(0)
        return words

    @property
    def command(self) -> str:
        """Return the shell command of a RUN instruction, flags removed."""
        return re.sub(r"^(?:--\S+\s+)*", "", self.arguments)

    def assignments(self) -> dict[str, str]:
        """Return the variables an ``ENV KEY=value ...`` instruction sets."""
        return dict(word.partition("=")[::2] for word in shlex.split(self.arguments))

    def bind_mounts(self) -> list[dict[str, str]]:
        """Return the options of each ``--mount=type=bind,...`` flag of a RUN instruction."""
        mounts = [dict(o.split("=", 1) for o in m.split(",")) for m in self.flags.get("mount", [])]
        return [mount for mount in mounts if mount["type"] == "bind"]

    def exec_form(self) -> list[str]:
        """Return the JSON array of an exec-form CMD, ENTRYPOINT or HEALTHCHECK CMD."""
        text = self.arguments
        if self.keyword == "HEALTHCHECK":
            text = self.command.removeprefix("CMD").strip()
        parsed = json.loads(text)
        assert isinstance(parsed, list), f"line {self.line}: not in exec form: {text}"
        return [str(item) for item in parsed]


@dataclass
class Stage:
    """The instructions from one FROM to the next."""

    base: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def each(self, keyword: str) -> list[Instruction]:
        """Return the instructions of this stage with ``keyword``, in order."""
        return [i for i in self.instructions if i.keyword == keyword]

    def environment(self) -> dict[str, str]:
        """Return the variables the stage's ENV instructions set (``KEY=value`` form)."""
        variables: dict[str, str] = {}
        for instruction in self.each("ENV"):
            variables.update(instruction.assignments())
        return variables


def dockerfile_instructions(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions, joining lines that end with a backslash."""
    instructions = []
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending.append(line.rstrip()[:-1])
            continue
        pending.append(line)
        keyword, _, arguments = " ".join(part.strip() for part in pending).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
        pending = []
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def dockerfile_stages(text: str) -> list[Stage]:
    """Group a Dockerfile's instructions by build stage."""
    stages: list[Stage] = []
    for instruction in dockerfile_instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.words
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append(Stage(base=words[0], name=name))
        else:
            assert stages, f"line {instruction.line}: {instruction.keyword} before FROM"
            stages[-1].instructions.append(instruction)
    return stages


def _double_quoted(text: str, position: int) -> tuple[str, int]:
    """Read the double-quoted part of ``text`` that starts after ``position``'s quote."""
    part = []
    while text[position] != '"':
        char = text[position]
        if char == "\\" and text[position + 1] in '"$\\':
            position += 1
            char = text[position]
        elif char == "$":
            raise ValueError(f"unescaped $ would expand a variable: {text}")
        part.append(char)
        position += 1
    return "".join(part), position + 1


def buildkit_words(text: str) -> list[str]:
    """Read ``text`` into words the way BuildKit's shell lexer does, with no variables.

    Outside quotes a backslash takes the next character literally; inside double quotes it
    escapes only a double quote, a dollar sign or a backslash; inside single quotes nothing
    is special. Adjacent quoted and unquoted parts join into one word. A ``$`` that is not
    escaped would expand a variable: the generated files never mean that, so it fails.
    """
    words: list[str] = []
    word: list[str] | None = None
    position = 0
    while position < len(text):
        char = text[position]
        position += 1
        if char.isspace():
            if word is not None:
                words.append("".join(word))
            word = None
            continue
        word = word if word is not None else []
        if char == "\\" and position < len(text):
            word.append(text[position])
            position += 1
        elif char == "'":
            end = text.index("'", position)
            word.append(text[position:end])
            position = end + 1
        elif char == '"':
            part, position = _double_quoted(text, position)
            word.append(part)
        elif char == "$":
            raise ValueError(f"unescaped $ would expand a variable: {text}")
        else:
            word.append(char)
    if word is not None:
        words.append("".join(word))
    return words


def dockerfile_word(value: str) -> str:
    """Return ``value`` as includes/dockerfile.jinja writes it: one double-quoted word."""
    parts = re.split(r"(\\+)", value)
    escaped = (
        f'"{part * 2}"' if part.startswith("\\") else part.replace('"', '\\"').replace("$", "\\$")
        for part in parts
    )
    return '"' + "".join(escaped) + '"'


def labels_of(stage: Stage) -> dict[str, str]:
    """Return the labels a stage's LABEL instructions set, values as BuildKit reads them."""
    labels = {}
    for instruction in stage.each("LABEL"):
        for word in buildkit_words(instruction.arguments):
            key, _, value = word.partition("=")
            labels[key] = value
    return labels


def dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """Translate a .dockerignore pattern: ``*`` and ``?`` stay within a folder, ``**`` does not."""
    regex = ""
    position = 0
    while position < len(pattern):
        if pattern.startswith("**/", position):
            regex, position = regex + "(?:.*/)?", position + 3
        elif pattern.startswith("**", position):
            regex, position = regex + ".*", position + 2
        elif pattern[position] == "*":
            regex, position = regex + "[^/]*", position + 1
        elif pattern[position] == "?":
            regex, position = regex + "[^/]", position + 1
        elif pattern[position] == "[":
            end = pattern.index("]", position)
            regex, position = regex + pattern[position : end + 1], end + 1
        else:
            regex, position = regex + re.escape(pattern[position]), position + 1
    return re.compile(regex)


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Tell whether a .dockerignore with ``patterns`` keeps ``path`` out of the context.

    As Docker applies the file: the last pattern that matches the path, or one of its parent
    folders, decides; a ``!`` pattern lets it back in.
    """
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        regex = dockerignore_regex(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not pattern.startswith("!")
    return excluded


def dockerignore_patterns(text: str) -> list[str]:
    """Return the patterns of a .dockerignore, comments and blank lines left out."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def copy_into_context(project: Path, source: str, destination: Path, ignored: list[str]) -> None:
    """Copy ``source`` of the render as COPY would from a build context with ``ignored``."""
    origin = project / source
    if origin.is_dir():

        def left_out(folder: str, names: list[str]) -> list[str]:
            relative = Path(folder).relative_to(project)
            return [n for n in names if dockerignore_excludes(ignored, (relative / n).as_posix())]

        shutil.copytree(origin, destination, dirs_exist_ok=True, ignore=left_out)
        return
    assert not dockerignore_excludes(ignored, source), f"{source} is not in the build context"
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(origin, destination / origin.name if destination.is_dir() else destination)


def follow_builder(project: Path, builder: Stage, workdir: Path, path: str) -> None:
    """Carry out a builder stage's COPY, ENV and RUN instructions on this machine.

    ``workdir`` stands for the stage's WORKDIR and ``path`` for its PATH (with the tools
    that COPY --from would bring, such as uv). A bind mount exists only during its RUN.
    """
    ignored = dockerignore_patterns((project / ".dockerignore").read_text(encoding="utf-8"))
    environment = {"PATH": path}
    for step in builder.instructions:
        if step.keyword == "ENV":
            environment.update(step.assignments())
        elif step.keyword == "COPY" and "from" not in step.flags:
            *sources, target = step.words
            for source in sources:
                copy_into_context(project, source, workdir / target, ignored)
        elif step.keyword == "RUN":
            binds = step.bind_mounts()
            for bind in binds:
                copy_into_context(project, bind["source"], workdir / bind["target"], ignored)
            run(["sh", "-c", step.command], workdir, env=environment)
            for bind in binds:
                (workdir / bind["target"]).unlink()


def skipped_because(step: ci.Step) -> str | None:
    """Return why the local run skips a CI command, or None when it runs it."""
    if step.job in SKIPPED_JOBS:
        return SKIPPED_JOBS[step.job]
    if step.command.strip() in RUNNER_COMMANDS:
        return RUNNER_COMMANDS[step.command.strip()]
    for marker, reason in ONLINE_COMMANDS.items():
        if marker in step.command:
            return reason
    first = step.command.split()[0]
    return SKIPPED_COMMANDS.get(first)


def ci_steps(project: Path) -> list[ci.Step]:
    """Return the commands the render's CI file, GitHub's or GitLab's, runs, in order.

    The file is read by the conformance checks' reader (``copier_ml.ci``). The variables
    that describe the runner (``RUNNER_VARIABLES``) are left out: locally the test session
    stands in for the runner.
    """
    workflow = project / ".github" / "workflows" / "ci.yml"
    provider, path = (
        ("github", workflow) if workflow.exists() else ("gitlab", project / ".gitlab-ci.yml")
    )
    config = yaml.load(path.read_text(encoding="utf-8"), Loader=LimitedLoader)  # noqa: S506 - a SafeLoader
    return [
        replace(
            step,
            environment={k: v for k, v in step.environment.items() if k not in RUNNER_VARIABLES},
        )
        for step in ci.steps(provider, config)
        if step.runs
    ]
