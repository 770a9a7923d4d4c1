"""Request and response bodies of the service (they make up its OpenAPI schema)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr


class PredictRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"texts": ["thanks for the edit", "you are an idiot"]}]},
    )

    texts: list[StrictStr] = Field(
        min_length=1,
        description="Texts to classify (non-empty; longer than max_length tokens: truncated).",
    )


class Prediction(BaseModel):
    probabilities: dict[str, float] = Field(description="Every label's probability.")
    labels: list[str] = Field(description="Labels whose probability >= their tuned threshold.")


class PredictResponse(BaseModel):
    model: str
    predictions: list[Prediction]


class LabelInfo(BaseModel):
    name: str
    threshold: float


class LabelsResponse(BaseModel):
    labels: list[LabelInfo]
    metric: str | None = Field(description="What the thresholds were tuned for (null: default).")
    thresholds_source: str


class HealthResponse(BaseModel):
    status: str
    model: str
    format: str
    labels: int
    max_length: int


class ErrorResponse(BaseModel):
    detail: str
