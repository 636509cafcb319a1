"""Request and response bodies of the prediction endpoint (they appear in the OpenAPI schema)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class PredictRequest(BaseModel):
    """Rows to classify: each maps every feature name to a finite number."""

    model_config = ConfigDict(extra="forbid", strict=True)

    rows: Annotated[
        list[dict[str, Annotated[float, Field(allow_inf_nan=False)]]],
        Field(min_length=1, description="Rows to classify, by feature name."),
    ]


class PredictionOut(BaseModel):
    """The predicted class of one row and the probability of every class."""

    row: int
    prediction: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    """One prediction per request row, in order."""

    predictions: list[PredictionOut]


class Status(BaseModel):
    """The answer of the health and readiness endpoints."""

    status: str
    detail: str | None = None
