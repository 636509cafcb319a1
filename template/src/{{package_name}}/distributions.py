"""The search space of ``tune``: one typed distribution per model or training setting.

A space is declared in the settings file under ``[tune.space]``, a distribution per setting,
named ``model.<key>`` or ``train.<key>``::

    [tune.space]
    "train.learning_rate" = { type = "log-float", low = 0.01, high = 0.3 }
    "model.max_leaf_nodes" = { type = "int", low = 8, high = 128, log = true }
    "model.hidden_units" = { type = "categorical", choices = [[32], [64, 64]] }

``config.TuneSettings`` checks, when the settings load, that each name is a setting and that
the bounds or choices are values that setting accepts. Optuna samples the values
(``suggest``); a choice that is not a number, a text or a Boolean (a list of layer widths)
reaches Optuna as its JSON text, and comes back decoded.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Literal, Self

from pydantic import Field, JsonValue, model_validator

from .sections import Section

if TYPE_CHECKING:
    import optuna

Scalar = str | int | float | bool | None


def check_order(low: float, high: float) -> None:
    """Refuse a range whose bounds are not in order (one value is not a search)."""
    if low >= high:
        raise ValueError(f"low ({low}) must be below high ({high})")


class FloatRange(Section):
    """Real values spread evenly from ``low`` to ``high`` (in steps of ``step``, if set)."""

    type: Literal["float"] = "float"
    low: float
    high: float
    step: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        check_order(self.low, self.high)
        return self


class LogFloatRange(Section):
    """Positive real values spread evenly in logarithm: as many from 0.001 to 0.01 as to 0.1."""

    type: Literal["log-float"] = "log-float"
    low: Annotated[float, Field(gt=0)]
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        check_order(self.low, self.high)
        return self


class IntRange(Section):
    """Whole numbers from ``low`` to ``high``, both included; ``log`` favours the small ones."""

    type: Literal["int"] = "int"
    low: int
    high: int
    step: Annotated[int, Field(ge=1)] = 1
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        check_order(self.low, self.high)
        if self.log and self.low < 1:
            raise ValueError(f"a log scale needs low of 1 or more, got {self.low}")
        if self.log and self.step != 1:
            raise ValueError("a log scale takes no step")
        return self


class Choice(Section):
    """One of a list of values, each tried as it is (numbers, texts, lists...)."""

    type: Literal["categorical"] = "categorical"
    choices: Annotated[tuple[JsonValue, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        texts = [json.dumps(choice, sort_keys=True) for choice in self.choices]
        if repeated := sorted({text for text in texts if texts.count(text) > 1}):
            raise ValueError(f"choices lists {', '.join(repeated)} more than once")
        return self

    def encoded(self) -> list[Scalar]:
        """The choices as Optuna takes them: scalars as they are, anything else as JSON text."""
        return [
            choice if isinstance(choice, str | int | float | bool) else json.dumps(choice)
            for choice in self.choices
        ]

    def decode(self, value: Scalar) -> JsonValue:
        """The choice that Optuna's ``value`` (from ``encoded``) stands for."""
        return self.choices[self.encoded().index(value)]


Distribution = Annotated[
    FloatRange | LogFloatRange | IntRange | Choice, Field(discriminator="type")
]
NumericRange = FloatRange | LogFloatRange | IntRange


def suggest(trial: optuna.trial.BaseTrial, name: str, distribution: Distribution) -> JsonValue:
    """Ask Optuna's ``trial`` for a value of the setting ``name`` from ``distribution``."""
    match distribution:
        case FloatRange(low=low, high=high, step=step):
            return trial.suggest_float(name, low, high, step=step)
        case LogFloatRange(low=low, high=high):
            return trial.suggest_float(name, low, high, log=True)
        case IntRange(low=low, high=high, step=step, log=log):
            return trial.suggest_int(name, low, high, step=step, log=log)
        case Choice():
            return distribution.decode(trial.suggest_categorical(name, distribution.encoded()))
