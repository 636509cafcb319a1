"""Build the ONNX graph of the inference path: preprocessing and model, in one graph.

The graph has one input per feature, named after it (``float`` for a number, ``string`` for
a category), and the output ``scores``: class probabilities ``(rows, classes)`` or values
``(rows, 1)``. The preprocessing is converted by skl2onnx; the framework's ``model.to_onnx``
converts (or builds) the model's part, from the input ``FEATURES``, the encoded matrix, to
``scores``; ``with_preprocessing`` joins the two.
"""

from typing import Any

import onnx
from onnx import compose, helper, version_converter
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer

from .onnx_runtime import OUTPUT, input_names
from .schema import DatasetSchema

# The ONNX operator set of every graph: recent enough for each converter, old enough for
# ONNX Runtime releases of the last two years.
OPSET = 18
ML_OPSET = 3
# The graph's own values start with "_", which no input's name does (see input_names).
FEATURES = "_features"
MODEL_PREFIX = "_model_"
SCORES = OUTPUT


def input_types(schema: DatasetSchema) -> list[tuple[str, Any]]:
    """The preprocessing's inputs for skl2onnx: one ``(rows, 1)`` column per feature."""
    return [
        (
            feature.name,
            FloatTensorType([None, 1])
            if feature.kind == "numeric"
            else StringTensorType([None, 1]),
        )
        for feature in schema.features
    ]


def rename(graph: onnx.ModelProto, old: str, new: str) -> onnx.ModelProto:
    """Rename the value ``old`` (an input, an output or between nodes) to ``new``."""
    for value in (*graph.graph.input, *graph.graph.output):
        if value.name == old:
            value.name = new
    for node in graph.graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    return graph


def at_opset(graph: onnx.ModelProto) -> onnx.ModelProto:
    """Convert ``graph`` to ``OPSET`` (the converters do not all pick the same one)."""
    current = next(
        (entry.version for entry in graph.opset_import if entry.domain in ("", "ai.onnx")), OPSET
    )
    return graph if current == OPSET else version_converter.convert_version(graph, OPSET)


def preprocessing_graph(preprocessor: ColumnTransformer, schema: DatasetSchema) -> onnx.ModelProto:
    """Convert the fitted preprocessing; its output, the encoded matrix, is ``FEATURES``."""
    graph = convert_sklearn(
        preprocessor,
        initial_types=input_types(schema),
        target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
    )
    [output] = graph.graph.output
    graph = rename(graph, output.name, FEATURES)
    # skl2onnx names the inputs after the columns the preprocessing selects, in their order
    # (making some of them identifiers its own way): rename them as input_names does, by
    # way of names of the graph's own, so that no new name is an old one still in use.
    converted = [value.name for value in graph.graph.input]
    for position, old in enumerate(converted):
        graph = rename(graph, old, f"_input_{position}")
    names = input_names(schema)
    for position, feature in enumerate(schema.feature_names):
        graph = rename(graph, f"_input_{position}", names[feature])
    return graph


def with_preprocessing(
    preprocessor: ColumnTransformer, schema: DatasetSchema, model: onnx.ModelProto
) -> onnx.ModelProto:
    """Join the preprocessing's graph to ``model``'s (input ``FEATURES``, output ``scores``)."""
    front = at_opset(preprocessing_graph(preprocessor, schema))
    back = compose.add_prefix(at_opset(model), MODEL_PREFIX)
    back.ir_version = front.ir_version = min(front.ir_version, back.ir_version)
    # The ONNX-ML operators of the preprocessing are alike in every version of the domain:
    # both graphs declare the newer one, as merge_models requires one version per domain.
    ml = max(
        (e.version for m in (front, back) for e in m.opset_import if e.domain == "ai.onnx.ml"),
        default=0,
    )
    for part in (front, back):
        for entry in part.opset_import:
            if entry.domain == "ai.onnx.ml":
                entry.version = ml
    merged = compose.merge_models(front, back, io_map=[(FEATURES, f"{MODEL_PREFIX}{FEATURES}")])
    # merge_models lists a domain once per model; tools such as the quantiser want it once.
    opsets = {entry.domain: entry.version for entry in merged.opset_import}
    del merged.opset_import[:]
    merged.opset_import.extend(
        helper.make_opsetid(domain, version) for domain, version in sorted(opsets.items())
    )
    features = {name: feature for feature, name in input_names(schema).items()}
    for value in merged.graph.input:
        value.doc_string = features[value.name]
    return rename(merged, f"{MODEL_PREFIX}{SCORES}", SCORES)
