"""The model: a PyTorch multi-layer perceptron, a classifier or a regressor.

Hidden ReLU layers (``model.hidden_units``) with dropout feed a linear output: one logit
per class, trained on the cross-entropy, or one value, trained on the mean squared error of
the standardised target (predictions are scaled back). Adam with weight decay, in
mini-batches; after every epoch the validation loss is measured, training stops once it has
not improved for ``train.patience`` epochs, and the best epoch's weights are kept.
``seed_everything`` makes runs repeatable: it seeds every generator and turns on PyTorch's
deterministic algorithms.

Inside a ``torch.distributed`` process group (Ray Train starts one per worker for
``train --workers N``), ``fit`` trains data-parallel: the network is wrapped in
``DistributedDataParallel``, which averages the gradients of the workers, and each worker
draws its own shard of the training rows (``DistributedSampler``). The validation loss is
measured on every validation row by every worker, so all of them stop at the same epoch.

The weights are saved as a plain ``state_dict`` and loaded with ``weights_only=True``, so a
tampered model file cannot run code; ``model.json`` holds the architecture.
"""

import copy
import logging
import os
import pickle
import random
import warnings
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from . import graphs
from ._exceptions import ConfigError, DamagedArtifactError, MissingArtifactError
from .artifacts import atomic_path, check_archive, read_json, write_json
from .config import Settings
from .contract import EpochCallback, EpochStats, FloatArray, Model, Preprocessing, Spec, Split

MODEL_FILE = "model.pt"
CONFIG_FILE = "model.json"
ARTIFACTS = {
    MODEL_FILE: "the network weights, a state_dict (loaded as tensors only: no code runs)",
    CONFIG_FILE: "the network architecture, the task and the target scaling",
}
PACKAGES: tuple[str, ...] = ("torch",)
PREPROCESSING = Preprocessing(impute=True, scale=True)
# Each epoch is reported as it ends, so `tune` can stop a trial that falls behind.
EPOCH_TRAINED = True
# `train --workers N` on Ray Train: DistributedDataParallel in a torch process group.
DATA_PARALLEL = True


def select_device(requested: str, *, cuda: bool, mps: bool) -> str:
    """Resolve ``auto`` to the best available device; refuse an unavailable one.

    ``auto`` means CUDA if present, then Apple's MPS, then the CPU.
    """
    available = {"cpu": True, "cuda": cuda, "mps": mps}
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if requested not in available:
        raise ConfigError(f"train.device must be auto, cpu, cuda or mps, got {requested!r}")
    if not available[requested]:
        raise ConfigError(f"train.device: {requested!r} is not available on this machine")
    return requested


def current_device(requested: str = "auto") -> torch.device:
    """Return the torch device for the ``train.device`` setting."""
    return torch.device(
        select_device(
            requested, cuda=torch.cuda.is_available(), mps=torch.backends.mps.is_available()
        )
    )


def seed_everything(seed: int) -> None:
    """Seed Python and PyTorch; make PyTorch's kernels deterministic."""
    random.seed(seed)
    torch.manual_seed(seed)
    # Required by deterministic cuBLAS kernels on CUDA; harmless elsewhere.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(mode=True)
    torch.backends.cudnn.benchmark = False


def data_parallel() -> bool:
    """Whether this process is one worker of several in a ``torch.distributed`` group."""
    distributed = torch.distributed
    return (
        distributed.is_available()
        and distributed.is_initialized()
        and distributed.get_world_size() > 1
    )


def build_network(spec: Spec, hidden_units: tuple[int, ...], dropout: float) -> nn.Sequential:
    """Return the network: (linear, ReLU, dropout) per hidden layer, then a linear output."""
    layers: list[nn.Module] = []
    width = spec.n_features
    for units in hidden_units:
        layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout)]
        width = units
    layers.append(nn.Linear(width, spec.n_classes if spec.task == "classification" else 1))
    return nn.Sequential(*layers)


class Perceptron:
    """A multi-layer perceptron over encoded features."""

    def __init__(
        self,
        spec: Spec,
        architecture: dict[str, Any],
        settings: Settings | None = None,
    ) -> None:
        """Build the network for ``spec``; ``settings`` are needed only to train it."""
        self.spec = spec
        self.architecture = architecture
        self.settings = settings
        self.network = build_network(
            spec, tuple(architecture["hidden_units"]), float(architecture["dropout"])
        )
        self.device = current_device(settings.train.device if settings else "cpu")
        self.network.to(self.device)

    def _tensor(self, values: np.ndarray[Any, Any]) -> torch.Tensor:
        return torch.as_tensor(values, dtype=torch.float32, device=self.device)

    def _targets(self, target: np.ndarray[Any, Any]) -> torch.Tensor:
        if self.spec.task == "classification":
            return torch.as_tensor(target, dtype=torch.int64, device=self.device)
        scaled = (target - self.architecture["target_mean"]) / self.architecture["target_scale"]
        return self._tensor(scaled)

    def _loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.spec.task == "classification":
            return nn.functional.cross_entropy(outputs, targets)
        return nn.functional.mse_loss(outputs.squeeze(1), targets)

    def _evaluate(self, features: torch.Tensor, targets: torch.Tensor) -> float:
        self.network.eval()
        with torch.no_grad():
            return float(self._loss(self.network(features), targets).item())

    def fit(self, train: Split, validation: Split, report: EpochCallback) -> list[EpochStats]:
        """Train until ``epochs`` or early stopping; keep the best validation-loss weights."""
        if self.settings is None:
            raise ValueError("a loaded model cannot be trained again: create a new one")
        options = self.settings.train
        if self.spec.task == "regression":
            scale = float(np.std(train.target))
            self.architecture["target_mean"] = float(np.mean(train.target))
            self.architecture["target_scale"] = scale if scale > 0 else 1.0
        features, targets = self._tensor(train.features), self._targets(train.target)
        checks, check_targets = self._tensor(validation.features), self._targets(validation.target)
        rows = TensorDataset(features, targets)
        sampler: DistributedSampler[Any] | None = None
        if data_parallel():
            sampler = DistributedSampler(rows, seed=self.settings.seed)
        batches = DataLoader(
            rows,
            batch_size=options.batch_size,
            shuffle=sampler is None,
            sampler=sampler,
            generator=torch.Generator().manual_seed(self.settings.seed),
        )
        network = (
            self.network if sampler is None else nn.parallel.DistributedDataParallel(self.network)
        )
        optimizer = torch.optim.Adam(
            network.parameters(),
            lr=options.learning_rate,
            weight_decay=self.settings.model.weight_decay,
        )
        history: list[EpochStats] = []
        best_loss, best_state, waited = float("inf"), copy.deepcopy(self.network.state_dict()), 0
        for epoch in range(1, options.epochs + 1):
            if sampler is not None:
                sampler.set_epoch(epoch)
            network.train()
            for batch_features, batch_targets in batches:
                optimizer.zero_grad()
                loss = self._loss(network(batch_features), batch_targets)
                loss.backward()  # type: ignore[no-untyped-call] # torch leaves it unannotated
                optimizer.step()
            stats = EpochStats(
                epoch, self._evaluate(features, targets), self._evaluate(checks, check_targets)
            )
            history.append(stats)
            report(stats)
            if stats.validation_loss < best_loss:
                best_loss, waited = stats.validation_loss, 0
                best_state = copy.deepcopy(self.network.state_dict())
            else:
                waited += 1
                if waited >= options.patience:
                    break
        self.network.load_state_dict(best_state)
        return history

    def predict(self, features: FloatArray) -> FloatArray:
        """Return class probabilities, or values on the target's own scale."""
        self.network.eval()
        with torch.no_grad():
            outputs = self.network(self._tensor(features))
            if self.spec.task == "classification":
                probabilities = np.asarray(torch.softmax(outputs, dim=1).cpu(), dtype=np.float64)
                # Sums to 1 in float32 precision only: normalised again in float64.
                normalised: FloatArray = probabilities / probabilities.sum(axis=1, keepdims=True)
                return normalised
        values = np.asarray(outputs.squeeze(1).cpu(), dtype=np.float64)
        scale, mean = self.architecture["target_scale"], self.architecture["target_mean"]
        return values * float(scale) + float(mean)

    def runtime(self) -> dict[str, str]:
        """Describe where the model computes."""
        return {"framework": f"torch {torch.__version__}", "device": str(self.device)}

    def save(self, directory: Path) -> None:
        """Write the weights (``model.pt``) and the architecture (``model.json``)."""
        with atomic_path(directory / MODEL_FILE) as temporary:
            torch.save(self.network.state_dict(), temporary)
        write_json(directory / CONFIG_FILE, {"spec": asdict(self.spec), **self.architecture})


def create(settings: Settings, spec: Spec) -> Model:
    """Return an untrained network sized for ``spec``, configured from the settings."""
    architecture: dict[str, Any] = {
        "hidden_units": list(settings.model.hidden_units),
        "dropout": settings.model.dropout,
        "target_mean": 0.0,
        "target_scale": 1.0,
    }
    return Perceptron(spec, architecture, settings)


def load(directory: Path) -> Model:
    """Rebuild the network and load its weights (tensors only: no code runs on load)."""
    path, config = directory / MODEL_FILE, directory / CONFIG_FILE
    if not path.is_file():
        raise MissingArtifactError(path, "not found", "train")
    document = read_json(config, "train")
    try:
        architecture = {
            key: document[key] for key in ("hidden_units", "dropout", "target_mean", "target_scale")
        }
        model = Perceptron(Spec(**document["spec"]), architecture)
    except (KeyError, TypeError, ValueError) as error:
        raise DamagedArtifactError(config, f"damaged ({error})", "train") from None
    check_archive(path, "train")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.network.load_state_dict(state)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, KeyError) as error:
        raise DamagedArtifactError(path, f"damaged ({type(error).__name__})", "train") from None
    if not all(torch.isfinite(tensor).all() for tensor in model.network.state_dict().values()):
        raise DamagedArtifactError(path, "damaged (weights that are not finite numbers)", "train")
    return model


class _Exported(nn.Module):
    """The network as it predicts: softmax probabilities, or values on the target's scale."""

    def __init__(self, model: Perceptron) -> None:
        super().__init__()
        self.network = model.network
        self.classifier = model.spec.task == "classification"
        self.scale = float(model.architecture["target_scale"])
        self.mean = float(model.architecture["target_mean"])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        outputs: torch.Tensor = self.network(features)
        if self.classifier:
            return torch.softmax(outputs, dim=1)
        return outputs * self.scale + self.mean


def to_onnx(estimator: Model) -> onnx.ModelProto:
    """Export the network with PyTorch's exporter: the encoded matrix in, ``scores`` out."""
    if not isinstance(estimator, Perceptron):
        raise TypeError(f"expected this framework's model, got {type(estimator).__name__}")
    module = _Exported(estimator).to("cpu").eval()
    example = torch.zeros((2, estimator.spec.n_features))
    # The exporter's registry warns, on every export, that torchvision's operators are absent.
    registry = logging.getLogger("torch.onnx._internal.exporter._registration")
    registry.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        # The exporter copies torch's own tree specs, which warns of a check it deprecates.
        warnings.filterwarnings("ignore", r"`isinstance\(treespec, LeafSpec\)`", FutureWarning)
        program = torch.onnx.export(
            module,
            (example,),
            input_names=[graphs.FEATURES],
            output_names=[graphs.SCORES],
            dynamic_shapes={"features": {0: torch.export.Dim("rows")}},
            opset_version=graphs.OPSET,
            dynamo=True,
            verbose=False,
        )
    if program is None:  # pragma: no cover - the dynamo exporter always returns a program
        raise RuntimeError("torch.onnx.export returned no program")
    return program.model_proto
