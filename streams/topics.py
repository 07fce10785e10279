"""Every topic the project uses, declared once, with its partitioning and retention."""

from __future__ import annotations

from dataclasses import dataclass

from streams.settings import Settings

COMPACT = {"cleanup.policy": "compact"}
# Faust tables of a worker; each has a compacted changelog topic per app id.
USER_STATE_TABLE = "user-state"
JOIN_TABLE = "online-join"
WINDOWS_TABLE = "online-windows"
TABLES = (USER_STATE_TABLE, JOIN_TABLE, WINDOWS_TABLE)


def changelog_topic(settings: Settings, table: str) -> str:
    """The changelog topic Faust names for ``table`` under this app id."""
    return f"{settings.app_id}-{table}-changelog"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic's full name, partition count and broker-side config."""

    name: str
    partitions: int
    config: dict[str, str]


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Full names of the project's topics under the configured prefix."""

    events: str
    items: str
    item_vectors: str
    rankings: str
    dead_letter: str
    trending: str
    served: str
    online_shown: str
    online_metrics: str

    @classmethod
    def from_settings(cls, settings: Settings) -> TopicNames:
        """Apply the topic prefix to the short names."""
        return cls(
            events=settings.topic("events"),
            items=settings.topic("items"),
            item_vectors=settings.topic("item-vectors"),
            rankings=settings.topic("rankings"),
            dead_letter=settings.topic("dead-letter"),
            trending=settings.topic("trending"),
            served=settings.topic("served"),
            online_shown=settings.topic("online-shown"),
            online_metrics=settings.topic("online-metrics"),
        )


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """What `homefeed topics create` makes, and why each is shaped so."""
    names = TopicNames.from_settings(settings)
    n = settings.partitions
    return [
        # Keyed by user: partitions bound how many ranking workers can share the load.
        TopicSpec(names.events, n, {}),
        # Catalog and vectors are compacted: the latest version of each item is
        # the state a new replica rebuilds from, forever.
        TopicSpec(names.items, n, COMPACT),
        TopicSpec(names.item_vectors, n, COMPACT),
        # The latest homepage per user is what a restarted service needs.
        TopicSpec(names.rankings, n, COMPACT),
        TopicSpec(names.dead_letter, 1, {"retention.ms": str(14 * 24 * 3600 * 1000)}),
        # One small message per worker, keyed by worker: compaction keeps the last.
        TopicSpec(names.trending, 1, COMPACT),
        # Impressions with their features: the training data of the next model.
        TopicSpec(names.served, n, {"retention.ms": str(30 * 24 * 3600 * 1000)}),
        # Served homepages re-keyed by user, so the online-metrics join finds
        # them on the partition of the user's events; a day is plenty to join.
        TopicSpec(names.online_shown, n, {"retention.ms": str(24 * 3600 * 1000)}),
        # One record per partition, window, variant and model: compaction keeps
        # each window's latest figures, and windows older than a month go.
        TopicSpec(
            names.online_metrics,
            n,
            {"cleanup.policy": "compact,delete", "retention.ms": str(30 * 24 * 3600 * 1000)},
        ),
        # Tables' changelogs, made before any worker starts: a changelog a
        # worker creates itself can miss that worker's first partition
        # assignment ("Ignoring missing topic"), and its table then refuses
        # every write (PartitionsMismatch) until the next rebalance.
        *(TopicSpec(changelog_topic(settings, table), n, COMPACT) for table in TABLES),
    ]
