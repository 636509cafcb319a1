"""The base of every settings section (``config.py``, ``hyperparameters.py``)."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A table of the settings file: immutable, and an unknown key is an error (a typo)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
