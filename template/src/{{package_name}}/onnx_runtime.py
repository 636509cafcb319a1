"""Predict with the exported ONNX graph on ONNX Runtime: no training framework needed.

``export`` writes ``models/model.onnx``: the preprocessing and the model in one graph, with
one input per feature (a float column for a number, a string column for a category),
named after it by ``input_names``, and one output, ``scores``: class probabilities, or the
predicted value. This module feeds it validated rows; it imports neither scikit-learn nor
the framework that trained the model, so a slim image or an edge device needs only
``onnxruntime``.
"""

import re
from pathlib import Path
from typing import Any, Self

import numpy as np
import onnxruntime
import pandas as pd

from ._exceptions import DamagedArtifactError, MissingArtifactError
from .contract import FloatArray, Spec
from .schema import DatasetSchema

ONNX_FILE = "model.onnx"
OUTPUT = "scores"
# ONNX Runtime's log level that keeps its own report of a graph it cannot load off stderr.
FATAL = 4
# What ONNX Runtime raises for a file that is not a graph it can run (a damaged graph's
# names can make its message undecodable: UnicodeDecodeError).
UNREADABLE = (
    onnxruntime.capi.onnxruntime_pybind11_state.Fail,
    onnxruntime.capi.onnxruntime_pybind11_state.InvalidGraph,
    onnxruntime.capi.onnxruntime_pybind11_state.InvalidProtobuf,
    onnxruntime.capi.onnxruntime_pybind11_state.NotImplemented,
    UnicodeDecodeError,
)


def input_names(schema: DatasetSchema) -> dict[str, str]:
    """The graph's input for each feature: its name, made an identifier as ONNX requires.

    Characters other than ASCII letters, digits and ``_`` become ``_`` (``Body Mass (g)``
    becomes ``Body_Mass__g_``); a name that then starts with a digit or ``_``, or is
    ``scores``, gets an ``x`` before it (the graph's own values start with ``_``); a name
    an earlier feature took gets ``_2``, ``_3``... after it. Each input's doc string in
    the graph is the feature's name as it is.
    """
    names: dict[str, str] = {}
    for feature in schema.feature_names:
        base = re.sub(r"\W", "_", feature, flags=re.ASCII)
        if not base or not base[0].isalpha() or base == OUTPUT:
            base = f"x{base}"
        name, number = base, 1
        while name in names.values():
            number += 1
            name = f"{base}_{number}"
        names[feature] = name
    return names


def feeds(schema: DatasetSchema, rows: pd.DataFrame) -> dict[str, np.ndarray[Any, Any]]:
    """The graph's inputs for validated rows: a ``(rows, 1)`` array per feature.

    Numbers are float32 (a missing one is NaN, which the graph imputes); categories are
    strings, a missing one the empty string, which no category is (encoded as unknown).
    """
    names = input_names(schema)
    inputs: dict[str, np.ndarray[Any, Any]] = {}
    for feature in schema.features:
        column = rows[[feature.name]]
        if feature.kind == "numeric":
            inputs[names[feature.name]] = column.to_numpy(dtype=np.float32)
        else:
            inputs[names[feature.name]] = column.fillna("").astype(str).to_numpy(dtype=object)
    return inputs


class OnnxScorer:
    """An ONNX Runtime session of ``model.onnx``, for the rows of one dataset schema."""

    def __init__(self, session: onnxruntime.InferenceSession, schema: DatasetSchema) -> None:
        """Wrap a session of a graph exported for ``schema``."""
        self.session = session
        self.schema = schema
        target = schema.target
        self._spec = Spec(target.task, len(schema.features), len(target.classes))

    @classmethod
    def load(cls, models_dir: Path, schema: DatasetSchema) -> Self:
        """Open ``models_dir/model.onnx`` (see ``load_file``)."""
        return cls.load_file(models_dir / ONNX_FILE, schema)

    @classmethod
    def load_file(cls, path: Path, schema: DatasetSchema) -> Self:
        """Open an exported graph; it must have the schema's inputs and ``scores``.

        Raises:
            MissingArtifactError: there is no exported graph (run ``export``).
            DamagedArtifactError: the file is not an ONNX graph of this model.
        """
        if not path.is_file():
            raise MissingArtifactError(path, "not found", "export")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = FATAL  # a damaged graph is reported once, below
        try:
            # No fallback: ONNX Runtime would load a graph that failed again, after printing
            # a banner on standard output, where ``predict`` writes its predictions.
            session = onnxruntime.InferenceSession(
                path, options, providers=["CPUExecutionProvider"], enable_fallback=0
            )
        except UNREADABLE as error:
            reason = " ".join(str(error).split())  # ONNX Runtime's messages span lines
            raise DamagedArtifactError(
                path, f"not a readable ONNX graph ({reason})", "export"
            ) from None
        inputs = {item.name for item in session.get_inputs()}
        outputs = {item.name for item in session.get_outputs()}
        if inputs != set(input_names(schema).values()) or OUTPUT not in outputs:
            problem = "its inputs or outputs are not those of this model (exported for another)"
            raise DamagedArtifactError(path, problem, "export")
        return cls(session, schema)

    @property
    def spec(self) -> Spec:
        """The problem the model was built for."""
        return self._spec

    def __call__(self, rows: pd.DataFrame) -> FloatArray:
        """Return class probabilities or predicted values for validated rows.

        The graph computes in 32-bit floats, so a row's probabilities sum to one only to
        about 1e-7; they are divided by their sum in 64 bits, as the native ones are exact.
        A row whose scores sum to zero gives NaN, without a warning: ``Predictor`` refuses
        such rows by number.
        """
        [scores] = self.session.run([OUTPUT], feeds(self.schema, rows))
        output: FloatArray = np.asarray(scores, dtype=np.float64)
        if self.spec.task == "regression":
            return output[:, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            probabilities: FloatArray = output / output.sum(axis=1, keepdims=True)
        return probabilities
