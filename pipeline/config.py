"""Typed, frozen views of params.yaml sections, so a typo in a parameter fails before any work starts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.paths import PARAMS_FILE


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Download(Section):
    """One file to fetch into data.path when that folder is absent or empty; zip archives are unpacked."""

    url: str = Field(pattern=r"^https?://", description="http(s) address of the file")
    checksum: str = Field(
        pattern=r"^(md5|sha256):[0-9a-fA-F]+$", description="'sha256:<hex>' or 'md5:<hex>' of the file as served"
    )


TimestampUnit = Literal["s", "ms", "us", "ns", "iso8601"]


class TableColumns(Section):
    """Where the canonical interaction fields are in a generic table (column names in the file)."""

    user: str
    item: str
    rating: str | None = Field(None, description="absent for implicit feedback without weights")
    timestamp: str


class SideTable(Section):
    """An items or users file of a generic table source. `columns` maps canonical names (title, description,
    text, genres/categories/tags, or any attribute name) to columns of the file; empty keeps every column."""

    file: str
    id: str = Field(description="the column holding the item (or user) id")
    columns: dict[str, str] = Field(default_factory=dict)


class TableFormat(Section):
    """The generic `table` source: one interactions file (CSV, TSV, Parquet or JSON lines) and optional
    items/users files in the same format, with a column mapping."""

    format: Literal["csv", "tsv", "parquet", "jsonl"] | None = Field(None, description="None: from the extension")
    separator: str | None = Field(None, description="CSV/TSV field separator; default ',' or tab")
    interactions: str | None = Field(None, description="file name inside data.path when data.path is a folder")
    columns: TableColumns
    timestamp_unit: TimestampUnit = "s"
    feedback: Literal["explicit", "implicit"] = Field(
        "explicit", description="explicit needs a rating column; implicit keeps a mapped rating as a weight"
    )
    list_separator: str = Field("|", description="splits text genres/categories/tags columns into lists")
    items: SideTable | None = None
    users: SideTable | None = None

    @model_validator(mode="after")
    def _explicit_needs_rating(self) -> TableFormat:
        if self.feedback == "explicit" and self.columns.rating is None:
            raise ValueError(
                "data.table.feedback is explicit but data.table.columns.rating names no column; "
                "map the rating column or set feedback: implicit"
            )
        return self


class SyntheticParams(Section):
    """Size and shape of the seeded synthetic source (pipeline.data.sources.synthetic)."""

    interactions: int = Field(100_000, ge=1)
    users: int | None = Field(None, ge=1, description="None: interactions / 50")
    items: int | None = Field(None, ge=1, description="None: interactions / 200")
    clusters: int = Field(20, ge=1, description="latent taste groups shared by users, items and item text")
    seed: int = 0


class TimeWindow(Section):
    """Interactions kept: start <= time < end (UTC; a date, an ISO 8601 time or epoch seconds)."""

    start: datetime | None = None
    end: datetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.start is not None and self.end is not None and epoch_seconds(self.start) >= epoch_seconds(self.end):
            raise ValueError(f"data.time_window.start ({self.start}) must be before end ({self.end})")
        return self


def epoch_seconds(moment: datetime) -> int:
    """A params time as Unix seconds; a time without a zone is UTC, as every timestamp in the pipeline."""
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


DuplicatePolicy = Literal["keep_all", "keep_first", "keep_last", "sum", "mean"]


class DataParams(Section):
    source: str = "movietweetings"
    path: Path = Path("data/raw")
    download: tuple[Download, ...] = Field((), description="fetched into data.path when it is absent or empty")
    table: TableFormat | None = Field(None, description="format and column mapping of data.source: table")
    synthetic: SyntheticParams = SyntheticParams()
    # Preparation after validation (split stage), applied in this order:
    time_window: TimeWindow = TimeWindow()
    duplicates: DuplicatePolicy = Field(
        "keep_all", description="repeated (user, item): keep all, keep the first/last in time, or one row with the"
        " summed/mean rating at the latest time"
    )
    implicit_threshold: float | None = Field(
        None, description="keep ratings >= this as implicit positives (rating becomes null); None keeps ratings"
    )
    min_history: int = Field(0, ge=0, description="users need at least this many interactions (with the k-core)")
    kcore: int = Field(5, ge=0, description="iteratively drop users and items with fewer interactions")

    @model_validator(mode="after")
    def _table_source_is_described(self) -> DataParams:
        if self.source == "table" and self.table is None:
            raise ValueError("data.source: table needs data.table (the file format and column mapping, docs/data.md)")
        return self


class SplitParams(Section):
    valid_fraction: float = Field(0.1, gt=0, lt=0.5)
    test_fraction: float = Field(0.1, gt=0, lt=0.5)
    cold_user_fraction: float = Field(0.1, ge=0, lt=1, description="seeded share of users held out of training")
    cold_item_fraction: float = Field(0.1, ge=0, lt=1, description="share of items, latest first seen, held out")
    cold_valid_share: float = Field(0.5, ge=0, lt=1, description="share of the cold users and of the cold items "
                                    "that validate cold-start settings; the rest is the cold-start test")
    reveal: tuple[int, ...] = Field((1, 3, 5), description="interactions each cold user reveals")
    sparsity: tuple[float, ...] = Field((0.5, 0.2), description="fractions of warm training kept per user")
    leave_last_out: bool = Field(True, description="also train and score under leave-last-one-out")
    paper_protocols: tuple[Literal["cfgan"], ...] = Field((), description="also split, train and score under these "
                                                          "papers' own protocols, always labelled as such "
                                                          "(pipeline/data/paper_protocols.py)")
    paper_valid_fraction: float = Field(0.1, gt=0, lt=0.5, description="share of a paper protocol's training part "
                                        "carved out for early stopping (never from its test part)")

    @field_validator("sparsity")
    @classmethod
    def _fractions(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < value < 1 for value in values):
            raise ValueError("split.sparsity fractions must lie strictly between 0 and 1 (1.0 is the warm regime)")
        return values


class ValidationParams(Section):
    min_rows: int = Field(1000, ge=1)
    # None leaves that side open, e.g. rating_max: null when ratings are play counts.
    rating_min: float | None = 0.0
    rating_max: float | None = 10.0
    earliest_timestamp: int = Field(
        788918400, description="1995-01-01 (MovieLens-100K and Amazon start in 1996-97); earlier stamps are corrupt"
    )
    max_duplicate_fraction: float = Field(
        0.0, ge=0, lt=1, description="share of rows that may repeat a (user, item, timestamp); data.duplicates"
        " then resolves them"
    )

    @model_validator(mode="after")
    def _rating_range_is_ordered(self) -> ValidationParams:
        if self.rating_min is not None and self.rating_max is not None and self.rating_min > self.rating_max:
            raise ValueError(f"validation.rating_min ({self.rating_min}) exceeds rating_max ({self.rating_max})")
        return self


class EvaluationParams(Section):
    ks: tuple[int, ...] = (5, 10, 20, 50)
    batch_size: int = Field(1024, ge=1)
    selection_metric: str = "ndcg@10"
    topk_list_length: int = Field(50, ge=1)
    bootstrap_samples: int = Field(1000, ge=100, description="resamples of users for the 95% intervals")
    sampled_negatives: int = Field(99, ge=0, description="the labelled 1+N sampled protocol; 0 turns it off")
    baseline: str = Field("popularity", description="model every other is paired-tested against in the report")


class TrainParams(Section):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    max_seconds: float | None = Field(
        None, ge=0, description="wall-time budget of each gradient-trained fit (one model on one training set), "
        "validation included; a model's own models.<name>.max_seconds overrides it; None or 0: no limit"
    )


class GuardMetric(Section):
    """A validation metric the new champion may not lose by more than `max_drop` (absolute) against the current
    one; checked only where both versions serve `regime` (a model without cold-item scoring is not compared
    on cold items)."""

    regime: str
    metric: str
    max_drop: float = Field(ge=0)

    @property
    def name(self) -> str:
        return f"{self.regime}/{self.metric}"


DEFAULT_GUARDS = (
    GuardMetric(regime="cold_users_k3", metric="ndcg@10", max_drop=0.02),
    GuardMetric(regime="cold_items", metric="ndcg@10", max_drop=0.02),
    GuardMetric(regime="warm", metric="coverage@10", max_drop=0.05),
)


class PromotionPolicy(Section):
    """When a candidate may replace the champion: all on validation (test is only reported)."""

    metric: str = "ndcg@10"
    regime: str = "warm"
    min_gain: float = Field(0.0, ge=0, description="the candidate's mean must exceed the champion's by more than this")
    alpha: float | None = Field(
        0.05, gt=0, lt=1, description="one-sided Wilcoxon signed-rank test on per-user values against the champion;"
        " None: no significance test"
    )
    guards: tuple[GuardMetric, ...] = DEFAULT_GUARDS


class RegistryParams(Section):
    experiment: str = "recommender-pipeline"
    model_name: str = "recommender"
    promotion: PromotionPolicy = PromotionPolicy()
    require_approval: bool = False
    approval_timeout_hours: float = Field(24.0, gt=0, description="how long the Prefect flow waits for a reviewer")
    lock_timeout_seconds: float = Field(600.0, gt=0, description="wait for another process deciding a promotion")

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "champion_metric" in raw:
            raise ValueError(
                "registry.champion_metric was replaced by registry.promotion.metric (and registry.promotion.regime,"
                " default warm): move the value there"
            )
        return raw


class SearchDimension(Section):
    """One setting's search range: `low`..`high` (integer or real, as the model's field is; `log` for
    scale-free settings such as learning rates and regularisation weights), or a list of `choices`."""

    low: float | None = None
    high: float | None = None
    log: bool = Field(False, description="sample evenly in log space; needs low > 0")
    choices: tuple[Any, ...] | None = Field(None, min_length=1, description="values to pick from, e.g. layer sizes")

    @model_validator(mode="after")
    def _range_or_choices(self) -> SearchDimension:
        has_range = self.low is not None or self.high is not None
        if (self.choices is None) == (not has_range):
            raise ValueError("a search dimension takes either low and high or choices, not both and not neither")
        if has_range and (self.low is None or self.high is None or self.low >= self.high):
            raise ValueError(f"a search range needs low < high (got low={self.low}, high={self.high})")
        if self.log and (self.choices is not None or self.low <= 0):
            raise ValueError(f"log: true needs a range with low > 0 (got low={self.low})")
        return self


class PrunerParams(Section):
    """Optuna's median pruner: a trial whose validation metric after an epoch is below the median of earlier
    trials at that epoch stops early. Only gradient-trained models report epochs; the others always finish."""

    kind: Literal["median", "none"] = "median"
    startup_trials: int = Field(5, ge=0, description="trials that always finish, to set the median")
    warmup_epochs: int = Field(3, ge=0, description="epochs every trial trains before it can be pruned")


class TuneParams(Section):
    """`recsys tune`: per-model search spaces and the budget every model gets alike (a fair leaderboard)."""

    trials: int = Field(20, ge=1, description="per model; trial 0 is always the current models.<name> settings")
    timeout_seconds: float | None = Field(None, gt=0, description="per model; the running trial finishes")
    seed: int | None = Field(None, description="sampler seed; None: the pipeline's seed")
    experiment: str = Field("recommender-tuning", description="MLflow experiment of the tuning runs")
    pruner: PrunerParams = PrunerParams()
    # Model name (a key of `models`, or a model class for every alias of it) -> setting -> its range.
    spaces: dict[str, dict[str, SearchDimension]] = Field(default_factory=dict)


class Params(Section):
    seed: int = 2020
    data: DataParams = DataParams()
    split: SplitParams = SplitParams()
    validation: ValidationParams = ValidationParams()
    evaluation: EvaluationParams = EvaluationParams()
    train: TrainParams = TrainParams()
    registry: RegistryParams = RegistryParams()
    tune: TuneParams = TuneParams()
    # Model name -> that model's hyperparameters; `model:` picks the class when the name is an alias.
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and validate params.yaml; unknown keys are errors so typos cannot pass silently."""
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    return Params.model_validate(raw)
