"""Settings of the model, ``[model]``, and of its training, ``[train]``: a Keras MLP.

Two hidden layers of 64 units with light dropout and weight decay suit tables of a few
hundred to a few hundred thousand rows; Adam at 1e-3 in batches of 64, stopping once the
validation loss has not improved for 20 epochs.
"""

from typing import Annotated

from pydantic import Field

from .distributions import Choice, Distribution, FloatRange, LogFloatRange
from .sections import Section


class ModelSettings(Section):
    """The network: the width of each hidden layer, dropout and weight decay."""

    hidden_units: Annotated[
        tuple[Annotated[int, Field(ge=1, le=100_000)], ...], Field(min_length=1, max_length=20)
    ] = (64, 64)
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.1
    weight_decay: Annotated[float, Field(ge=0, le=1)] = 1e-4


class TrainSettings(Section):
    """The optimisation: epochs, batches, Adam's step size, early stopping."""

    epochs: Annotated[int, Field(ge=1, le=1_000_000)] = 200
    batch_size: Annotated[int, Field(ge=1, le=1_000_000)] = 64
    learning_rate: Annotated[float, Field(gt=0, le=10)] = 1e-3
    patience: Annotated[int, Field(ge=1, le=10_000)] = 20


# What `tune` searches unless [tune.space] says otherwise: the step size, the width and
# depth of the network and how strongly it is regularised.
SEARCH_SPACE: dict[str, Distribution] = {
    "train.learning_rate": LogFloatRange(low=1e-4, high=3e-2),
    "model.hidden_units": Choice(choices=([32], [64, 64], [128, 64])),
    "model.dropout": FloatRange(low=0.0, high=0.4),
    "model.weight_decay": LogFloatRange(low=1e-6, high=1e-2),
}
