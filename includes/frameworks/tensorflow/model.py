"""The model: a Keras 3 multi-layer perceptron on the TensorFlow backend.

Hidden ReLU layers (``model.hidden_units``) with dropout feed a softmax over the classes,
trained on the cross-entropy, or one linear unit, trained on the mean squared error of the
standardised target (predictions are scaled back). Adam with weight decay, in
mini-batches; after every epoch the validation loss is measured, training stops once it has
not improved for ``train.patience`` epochs, and the best epoch's weights are kept.
``seed_everything`` makes runs repeatable: it seeds every generator and turns on
TensorFlow's deterministic ops.

The network is saved in the ``.keras`` format and loaded with ``safe_mode=True``, which
refuses to deserialise code (lambda layers); ``model.json`` holds the task and the target
scaling.
"""

import os
import random
import tempfile
import warnings
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

# Keras 3 reads its backend when first imported (the imports below must stay after this).
# TensorFlow's C++ layer writes its start-up notices, and version-skew lines logged as
# errors ("NodeDef mentions attribute ...") on every fit, straight to standard error, past
# the logging module: level 3 keeps them out. A real failure still raises in Python;
# TF_CPP_MIN_LOG_LEVEL=0 in the environment shows everything (README.md, "Configuration").
# The oneDNN notice is written through Abseil's logging before TensorFlow reads that level
# (TensorFlow 2.21 and newer); oneDNN's reordered kernels are off, which also keeps results
# the same from one CPU to the next. TF_ENABLE_ONEDNN_OPTS=1 turns them back on.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras
import numpy as np
import onnx
import tensorflow as tf

from . import graphs
from ._exceptions import DamagedArtifactError, MissingArtifactError
from .artifacts import atomic_path, check_archive, read_json, write_json
from .config import Settings
from .contract import EpochCallback, EpochStats, FloatArray, Model, Preprocessing, Spec, Split

MODEL_FILE = "model.keras"
CONFIG_FILE = "model.json"
ARTIFACTS = {
    MODEL_FILE: "the Keras network, architecture and weights (loaded in safe mode: no "
    "serialised code runs)",
    CONFIG_FILE: "the task and the target scaling",
}
PACKAGES: tuple[str, ...] = ("keras", "tensorflow", "tensorflow-cpu")
PREPROCESSING = Preprocessing(impute=True, scale=True)
# Each epoch is reported as it ends, so `tune` can stop a trial that falls behind.
EPOCH_TRAINED = True
# `train --workers N` on Ray Train: not for Keras 3, whose `fit` fails under TensorFlow's
# MultiWorkerMirroredStrategy (keras-team/keras#20585): the network trains on one worker.
DATA_PARALLEL = False


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras; make TensorFlow's ops deterministic."""
    random.seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_network(spec: Spec, hidden_units: tuple[int, ...], dropout: float, seed: int) -> Any:  # noqa: ANN401 - keras.Model carries no type information
    """Return the network: (dense ReLU, dropout) per hidden layer, then the output layer."""
    layers: list[Any] = [keras.Input(shape=(spec.n_features,))]
    for units in hidden_units:
        layers += [
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dropout(dropout, seed=seed),
        ]
    if spec.task == "classification":
        layers.append(keras.layers.Dense(spec.n_classes, activation="softmax"))
    else:
        layers.append(keras.layers.Dense(1))
    return keras.Sequential(layers)


class Perceptron:
    """A multi-layer perceptron over encoded features."""

    def __init__(
        self,
        spec: Spec,
        network: Any,  # noqa: ANN401 - keras.Model carries no type information
        scaling: dict[str, float],
        settings: Settings | None = None,
    ) -> None:
        """Wrap a network built for ``spec``; ``settings`` are needed only to train it."""
        self.spec = spec
        self.network = network
        self.scaling = scaling
        self.settings = settings

    def _targets(self, target: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        if self.spec.task == "classification":
            return target
        return (target - self.scaling["target_mean"]) / self.scaling["target_scale"]

    def fit(self, train: Split, validation: Split, report: EpochCallback) -> list[EpochStats]:
        """Train until ``epochs`` or early stopping; keep the best validation-loss weights."""
        if self.settings is None:
            raise ValueError("a loaded model cannot be trained again: create a new one")
        options = self.settings.train
        if self.spec.task == "regression":
            scale = float(np.std(train.target))
            self.scaling = {
                "target_mean": float(np.mean(train.target)),
                "target_scale": scale or 1.0,
            }
        targets, checks = self._targets(train.target), self._targets(validation.target)
        history: list[EpochStats] = []

        def record(epoch: int, logs: dict[str, float]) -> None:
            # Keras' own "loss" is the mean over the epoch's batches, with dropout on and the
            # weights still moving; the other frameworks report the loss of the weights at
            # the end of the epoch on the whole training set, and so does this one.
            train_loss = self.network.evaluate(train.features, targets, verbose=0, batch_size=4096)
            stats = EpochStats(epoch + 1, float(train_loss), float(logs["val_loss"]))
            history.append(stats)
            report(stats)

        self.network.compile(
            optimizer=keras.optimizers.Adam(
                learning_rate=options.learning_rate,
                weight_decay=self.settings.model.weight_decay or None,
            ),
            loss="sparse_categorical_crossentropy" if self.spec.task == "classification" else "mse",
        )
        self.network.fit(
            train.features,
            targets,
            validation_data=(validation.features, checks),
            epochs=options.epochs,
            batch_size=options.batch_size,
            shuffle=True,
            verbose=0,
            callbacks=[
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=options.patience, restore_best_weights=True
                ),
                keras.callbacks.LambdaCallback(on_epoch_end=record),
            ],
        )
        return history

    def predict(self, features: FloatArray) -> FloatArray:
        """Return class probabilities, or values on the target's own scale."""
        outputs = np.asarray(self.network.predict_on_batch(features), dtype=np.float64)
        if self.spec.task == "classification":
            # Sums to 1 in float32 precision only: normalised again in float64.
            normalised: FloatArray = outputs / outputs.sum(axis=1, keepdims=True)
            return normalised
        return outputs[:, 0] * self.scaling["target_scale"] + self.scaling["target_mean"]

    def runtime(self) -> dict[str, str]:
        """Describe where the model computes."""
        devices = [device.device_type for device in tf.config.list_logical_devices()]
        return {
            "framework": f"keras {keras.__version__}, tensorflow {tf.__version__}",
            "device": "gpu" if "GPU" in devices else "cpu",
        }

    def save(self, directory: Path) -> None:
        """Write the network (``model.keras``) and the task and scaling (``model.json``)."""
        with atomic_path(directory / MODEL_FILE) as temporary:
            self.network.save(temporary)
        write_json(directory / CONFIG_FILE, {"spec": asdict(self.spec), **self.scaling})


def create(settings: Settings, spec: Spec) -> Model:
    """Return an untrained network sized for ``spec``, configured from the settings."""
    network = build_network(
        spec, settings.model.hidden_units, settings.model.dropout, settings.seed
    )
    return Perceptron(spec, network, {"target_mean": 0.0, "target_scale": 1.0}, settings)


def load(directory: Path) -> Model:
    """Read a model saved by ``save``; ``safe_mode`` refuses serialised code."""
    path, config = directory / MODEL_FILE, directory / CONFIG_FILE
    if not path.is_file():
        raise MissingArtifactError(path, "not found", "train")
    document = read_json(config, "train")
    try:
        spec = Spec(**document["spec"])
        scaling = {key: float(document[key]) for key in ("target_mean", "target_scale")}
    except (KeyError, TypeError, ValueError) as error:
        raise DamagedArtifactError(config, f"damaged ({error})", "train") from None
    check_archive(path, "train")
    try:
        network = keras.saving.load_model(path, safe_mode=True)
    except (ValueError, OSError, zipfile.BadZipFile, KeyError, TypeError) as error:
        raise DamagedArtifactError(path, f"damaged ({type(error).__name__})", "train") from None
    if not all(np.isfinite(weights).all() for weights in network.get_weights()):
        raise DamagedArtifactError(path, "damaged (weights that are not finite numbers)", "train")
    return Perceptron(spec, network, scaling)


def to_onnx(estimator: Model) -> onnx.ModelProto:
    """Export the network with Keras (through tf2onnx): the encoded matrix in, ``scores`` out.

    A regressor's network predicts the scaled target: a ``Rescaling`` layer after it turns
    that back into the target's units, as ``predict`` does.
    """
    if not isinstance(estimator, Perceptron):
        raise TypeError(f"expected this framework's model, got {type(estimator).__name__}")
    network = estimator.network
    if estimator.spec.task == "regression":
        scale, mean = estimator.scaling["target_scale"], estimator.scaling["target_mean"]
        network = keras.Sequential(
            [
                keras.Input((estimator.spec.n_features,)),
                network,
                keras.layers.Rescaling(scale, offset=mean),
            ]
        )
    network.predict_on_batch(np.zeros((1, estimator.spec.n_features), dtype=np.float32))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "network.onnx"
        with warnings.catch_warnings():
            # Keras' patch of tf2onnx for NumPy 2 probes for np.object, which warns.
            warnings.filterwarnings("ignore", "In the future `np.object`", FutureWarning)
            network.export(path, format="onnx", verbose=False, opset_version=graphs.OPSET)
        graph = onnx.load(path)
    [source] = graph.graph.input
    [output] = graph.graph.output
    graph = graphs.rename(graph, source.name, graphs.FEATURES)
    return graphs.rename(graph, output.name, graphs.SCORES)
