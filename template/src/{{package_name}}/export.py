"""Export the whole inference path, preprocessing and model, to one ONNX graph.

``export`` writes ``models/model.onnx`` (see ``onnx_runtime.py`` for its inputs and
output), then checks it: on the test set, ONNX Runtime's probabilities must be within
``TOLERANCE`` of the model's own, and the predicted classes identical; a regressor's values
within ``TOLERANCE`` of the value's own size (the graph computes in 32-bit floats, which
hold seven significant digits, so a price of 4,000 is exact to about 0.001). The result is
written to ``reports/onnx_parity.json``. A graph that fails the check is not kept.

``--quantize`` also writes ``models/model.int8.onnx``: the weights of its matrix products
stored as 8-bit integers (ONNX Runtime's dynamic quantisation), with its size and its test
metric beside the float graph's in the report. Trees have no weights to quantise: their
graph stays the same size.
"""

import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd

from . import graphs, model
from ._exceptions import ExportError
from .artifacts import atomic_path, write_json
from .config import Settings
from .metrics import HEADLINE, Report, classification_report, regression_report
from .onnx_runtime import ONNX_FILE, OnnxScorer
from .predict import Predictor
from .prepare import INFO_FILE, TEST_FILE, DatasetInfo, load_part
from .schema import DatasetSchema, labels_to_codes
from .scoring import NativeScorer

logger = logging.getLogger(__name__)

QUANTIZED_FILE = "model.int8.onnx"
PARITY_FILE = "onnx_parity.json"
# The largest difference allowed between ONNX Runtime's output and the model's own.
TOLERANCE = 1e-5


@dataclass(frozen=True)
class Parity:
    """How ONNX Runtime's output compares with the model's own on the test rows.

    ``max_difference`` is absolute; ``max_relative_difference`` divides each difference by
    the size of the model's value (at least 1), which is what a regressor is held to.
    """

    rows: int
    max_difference: float
    max_relative_difference: float
    same_classes: bool | None
    tolerance: float = TOLERANCE

    @property
    def passed(self) -> bool:
        """Whether the graph computes what the model does."""
        if self.same_classes is None:
            return self.max_relative_difference <= self.tolerance
        return self.max_difference <= self.tolerance and self.same_classes


@dataclass(frozen=True)
class Quantized:
    """The 8-bit graph beside the float one: sizes, and the headline test metric of each."""

    path: str
    bytes: int
    float_bytes: int
    metric: str
    value: float
    float_value: float


@dataclass(frozen=True)
class Exported:
    """What ``export`` wrote and measured."""

    path: Path
    parity: Parity
    report_path: Path
    quantized: Quantized | None


def compare(
    schema: DatasetSchema, native: np.ndarray[Any, Any], exported: np.ndarray[Any, Any]
) -> Parity:
    """Measure the largest difference between two outputs, and whether the classes agree.

    The outputs are of the test rows, of which ``prepare`` always keeps at least one.
    """
    classes = None
    if schema.target.task == "classification":
        classes = bool((native.argmax(axis=1) == exported.argmax(axis=1)).all())
    differences = np.abs(native - exported)
    relative = differences / np.maximum(1.0, np.abs(native))
    return Parity(len(native), float(differences.max()), float(relative.max()), classes)


def _headline(schema: DatasetSchema, rows: pd.DataFrame, output: np.ndarray[Any, Any]) -> float:
    target = schema.target
    report: Report
    if target.task == "classification":
        report = classification_report(
            labels_to_codes(rows[target.name], target.classes), output, target.classes
        )
    else:
        report = regression_report(rows[target.name].to_numpy(dtype="float64"), output)
    name, _ = HEADLINE[target.task]
    value: float = getattr(report, name)
    return value


def quantize(
    settings: Settings, schema: DatasetSchema, rows: pd.DataFrame, native: np.ndarray[Any, Any]
) -> Quantized:
    """Write the dynamically quantised graph and score it on the test rows."""
    # Imported here: --quantize only.
    from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: PLC0415
    from onnxruntime.quantization.shape_inference import quant_pre_process  # noqa: PLC0415

    models_dir = settings.paths.models_dir
    target = models_dir / QUANTIZED_FILE
    with atomic_path(target) as temporary, tempfile.TemporaryDirectory() as scratch:
        # ONNX Runtime's pre-processing first (shape inference and graph optimisation; its
        # symbolic shape inference is for models of variable-length sequences, not these).
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(models_dir / ONNX_FILE, prepared, skip_symbolic_shape=True)
        quantize_dynamic(prepared, temporary, weight_type=QuantType.QInt8)
    scorer = OnnxScorer.load_file(target, schema)
    name, _ = HEADLINE[schema.target.task]
    return Quantized(
        path=str(target),
        bytes=target.stat().st_size,
        float_bytes=(models_dir / ONNX_FILE).stat().st_size,
        metric=name,
        value=_headline(schema, rows, scorer(rows)),
        float_value=_headline(schema, rows, native),
    )


def export(settings: Settings, *, quantized: bool = False) -> Exported:
    """Export the saved model with its preprocessing to ``models/model.onnx``, and check it.

    Raises:
        ArtifactError: there is no trained model, or the prepared data changed since.
        ExportError: the graph's output differs from the model's beyond ``TOLERANCE``.
    """
    models_dir = settings.paths.models_dir
    predictor = Predictor.load(models_dir)
    scorer = predictor.scorer
    if not isinstance(scorer, NativeScorer):  # pragma: no cover - load gives the native one
        raise TypeError("export needs the native model")
    schema = predictor.schema
    graph = graphs.with_preprocessing(scorer.preprocessor, schema, model.to_onnx(scorer.estimator))
    onnx.checker.check_model(graph)
    dataset = DatasetInfo.read(settings.paths.processed_dir / INFO_FILE)
    rows = load_part(settings, dataset, TEST_FILE)
    native = predictor.scores(rows, TEST_FILE)
    path = models_dir / ONNX_FILE
    with atomic_path(path) as temporary:
        onnx.save(graph, temporary)
        parity = compare(schema, native, OnnxScorer.load_file(temporary, schema)(rows))
        if not parity.passed:
            raise ExportError(
                f"the ONNX graph differs from the model by up to {parity.max_difference:.3g} "
                f"({parity.max_relative_difference:.3g} relative; tolerance {TOLERANCE:g}, "
                f"same classes: {parity.same_classes}) on {parity.rows} test rows: it is not kept"
            )
    report = {
        "onnx": str(path),
        "bytes": path.stat().st_size,
        "parity": asdict(parity) | {"passed": parity.passed},
    }
    squeezed = None
    if quantized:
        squeezed = quantize(settings, schema, rows, native)
        report["quantized"] = asdict(squeezed)
    report_path = write_json(settings.paths.reports_dir / PARITY_FILE, report)
    logger.info(
        "exported %s: differs from the model by %.3g at most on %d test rows",
        path,
        parity.max_difference,
        parity.rows,
    )
    return Exported(path, parity, report_path, squeezed)
