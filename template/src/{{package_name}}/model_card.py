"""The model card, ``reports/model_card.md``: what the model is for and how far to trust it.

``evaluate`` writes it: what the model is for, what it learnt from, how well it does, what
limits it, and how to reproduce it.

Everything in it comes from the files the pipeline wrote (the run record, the dataset
description, the test metrics, the explanations) and from the project's metadata: the card
never states what the pipeline did not measure.
"""

from collections.abc import Mapping
from importlib.metadata import metadata
from pathlib import Path
from typing import Any

from . import DISTRIBUTION
from .artifacts import write_text
from .explain import Explanation
from .metrics import HEADLINE
from .prepare import DatasetInfo
from .records import RunRecord

CARD_FILE = "model_card.md"
# Below these, the card warns that the numbers are uncertain or the classes lopsided.
FEW_TEST_ROWS = 100
LOPSIDED = 5.0


def _metrics_table(test: Mapping[str, Any]) -> list[str]:
    names = [
        key
        for key, value in test.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and key != "rows"
    ]
    rows = [f"| {name} | {test[name]:.4f} |" for name in names]
    rows += [f"| {name} | n/a |" for name, value in test.items() if value is None]
    return ["| Metric | Test |", "|---|---|", *rows]


def limitations(record: RunRecord, dataset: DatasetInfo, test: Mapping[str, Any]) -> list[str]:
    """What a reader should know before trusting the model, from the data it saw."""
    notes = []
    if int(test["rows"]) < FEW_TEST_ROWS:
        notes.append(
            f"The test set has {test['rows']} rows: the metrics above carry a wide margin of error."
        )
    if record.schema.target.task == "classification":
        supports = {name: scores["support"] for name, scores in test["per_class"].items()}
        largest, smallest = max(supports.values()), min(supports.values())
        if smallest and largest / smallest >= LOPSIDED:
            notes.append(
                f"The classes are lopsided ({largest} test rows of one class, {smallest} of "
                "another): read the balanced accuracy and the per-class scores, not the accuracy."
            )
    gappy = [f.name for f in record.schema.features if f.missing_rate >= 0.2]
    if gappy:
        notes.append(
            f"Often missing in training (20% or more): {', '.join(gappy)}; imputed values stand in for them."
        )
    if dataset.rows_without_target:
        notes.append(f"{dataset.rows_without_target} source rows had no target and were left out.")
    notes.append(
        "The model knows only the rows it was trained on: inputs unlike them (new categories, "
        "values outside the ranges seen, a changed population) make its predictions unreliable; "
        "`monitor` measures how far new rows have drifted."
    )
    return notes


def write_card(
    path: Path,
    record: RunRecord,
    dataset: DatasetInfo,
    test: Mapping[str, Any],
    explanation: Explanation | None,
) -> Path:
    """Write the model card as Markdown, atomically."""
    schema = record.schema
    target = schema.target
    name, direction = HEADLINE[target.task]
    commit = (record.git or {}).get("commit", "unknown (not a Git repository)")
    dirty = " (with uncommitted changes)" if (record.git or {}).get("dirty") else ""
    what = (
        f"a classifier of `{target.name}` into {len(target.classes)} classes: "
        + ", ".join(f"`{label}`" for label in target.classes)
        if target.task == "classification"
        else f"a regressor of `{target.name}` (seen from {target.minimum:g} to {target.maximum:g})"
    )
    lines = [
        f"# Model card: {DISTRIBUTION}",
        "",
        "## Intended use",
        "",
        str(metadata(DISTRIBUTION)["Summary"]),
        "",
        f"The model is {what}, trained by {record.runtime['framework']} on {record.started_at}.",
        "",
        "## Training data",
        "",
        f"- Source: `{dataset.source}` ({dataset.source_format}), SHA-256 `{dataset.source_sha256}`",
        f"- Rows: {dataset.source_rows} read, {dataset.train_rows} for training (of which a share "
        f"{record.settings['data']['validation_fraction']} for early stopping), {dataset.test_rows} for testing",
        f"- Features ({len(schema.features)}): "
        + ", ".join(f"`{f.name}` ({f.kind})" for f in schema.features),
        f"- ID columns, never learnt from: {', '.join(f'`{n}`' for n in schema.id_columns) or 'none'}",
        f"- Pseudonymised columns: {', '.join(f'`{n}`' for n in schema.pseudonymized) or 'none'}",
        "",
        "## Metrics",
        "",
        f"On the {test['rows']} rows of the held-out test split (headline: {name}, "
        f"{'higher' if direction == 'maximize' else 'lower'} is better):",
        "",
        *_metrics_table(test),
        "",
        "## Explanations",
        "",
    ]
    if explanation is None:
        lines.append("Not computed: run `explain`.")
    else:
        lines += [
            f"Permutation importance on {explanation.rows} test rows ({explanation.repeats} repeats): "
            f"how much {explanation.metric} worsens when a feature is shuffled.",
            "",
            "| Feature | Importance | Spread |",
            "|---|---|---|",
            *(f"| `{i.feature}` | {i.mean:.4f} | {i.std:.4f} |" for i in explanation.importances),
        ]
    lines += [
        "",
        "## Limitations",
        "",
        *(f"- {note}" for note in limitations(record, dataset, test)),
        "",
        "## Reproducing it",
        "",
        f"From commit `{commit}`{dirty}, with the settings of the run record (`models/run.json`, seed {record.seed}):",
        "",
        "```bash",
        f"uv sync --locked && uv run {DISTRIBUTION} train && uv run {DISTRIBUTION} evaluate",
        "```",
        "",
    ]
    return write_text(path, "\n".join(lines))
