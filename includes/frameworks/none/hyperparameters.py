"""Settings of the model, ``[model]``, and of its training, ``[train]``: a linear baseline.

Full-batch gradient descent at the largest step that cannot diverge (``learning_rate`` 1)
converges in a few hundred steps; a small L2 penalty keeps the weights finite on separable
classes.
"""

from typing import Annotated

from pydantic import Field

from .distributions import Distribution, FloatRange, LogFloatRange
from .sections import Section


class ModelSettings(Section):
    """The linear model: how strongly large weights are penalised."""

    l2: Annotated[float, Field(ge=0, le=100)] = 1e-4


class TrainSettings(Section):
    """The gradient descent: how many steps at most, their size, when to stop early."""

    epochs: Annotated[int, Field(ge=1, le=1_000_000)] = 500
    learning_rate: Annotated[float, Field(gt=0, lt=2)] = 1.0
    patience: Annotated[int, Field(ge=1, le=10_000)] = 25


# What `tune` searches unless [tune.space] says otherwise: the penalty and the step size.
SEARCH_SPACE: dict[str, Distribution] = {
    "model.l2": LogFloatRange(low=1e-6, high=1.0),
    "train.learning_rate": FloatRange(low=0.1, high=1.9),
}
