"""The topics `homefeed topics create` makes, table changelogs included."""

from __future__ import annotations

from streams.settings import Settings
from streams.topics import TABLES, TopicNames, changelog_topic, topic_specs


def test_every_table_changelog_is_made_before_any_worker_starts() -> None:
    """A changelog a worker creates itself can miss its first assignment (PartitionsMismatch)."""
    settings = Settings(app_id="shop", topic_prefix="shop.", partitions=6)
    specs = {spec.name: spec for spec in topic_specs(settings)}
    for table in TABLES:
        spec = specs[changelog_topic(settings, table)]
        assert spec.name == f"shop-{table}-changelog"
        assert spec.partitions == 6  # co-partitioned with the events it is written from
        assert spec.config["cleanup.policy"] == "compact"
    names = TopicNames.from_settings(settings)
    assert specs[names.online_shown].partitions == specs[names.events].partitions == 6
    assert "compact" in specs[names.online_metrics].config["cleanup.policy"]
