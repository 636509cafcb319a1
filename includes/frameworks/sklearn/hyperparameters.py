"""Settings of the model, ``[model]``, and of its training, ``[train]``: gradient boosting.

The defaults are scikit-learn's, which suit most tables of a few hundred to millions of
rows; ``train.patience`` stops the boosting once the validation loss has not improved for
that many iterations.
"""

from typing import Annotated

from pydantic import Field

from .distributions import Distribution, FloatRange, IntRange, LogFloatRange
from .sections import Section


class ModelSettings(Section):
    """The trees: their size and how strongly they are regularised."""

    max_leaf_nodes: Annotated[int, Field(ge=2, le=100_000)] = 31
    min_samples_leaf: Annotated[int, Field(ge=1, le=1_000_000)] = 20
    l2_regularization: Annotated[float, Field(ge=0)] = 0.0
    max_features: Annotated[float, Field(gt=0, le=1)] = 1.0


class TrainSettings(Section):
    """The boosting: step size, how many iterations at most, when to stop early."""

    learning_rate: Annotated[float, Field(gt=0, le=10)] = 0.1
    max_iterations: Annotated[int, Field(ge=1, le=100_000)] = 500
    patience: Annotated[int, Field(ge=1, le=10_000)] = 20


# What `tune` searches unless [tune.space] says otherwise: the step size and the size and
# regularisation of the trees.
SEARCH_SPACE: dict[str, Distribution] = {
    "train.learning_rate": LogFloatRange(low=0.01, high=0.3),
    "model.max_leaf_nodes": IntRange(low=8, high=128, log=True),
    "model.min_samples_leaf": IntRange(low=2, high=50, log=True),
    "model.l2_regularization": FloatRange(low=0.0, high=1.0),
}
