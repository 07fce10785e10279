"""Side effects: what happens to a batch's homepages once they are final.

They run on the worker's event loop after the ranking pass, in the order the
stage list gives. Where a homepage goes is an :class:`HomepageOutput`:
``streams/`` turns homepages into wire messages on Kafka topics; a test
records them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from ranker.pipeline.stages import RankedHomepage

log = logging.getLogger(__name__)

# How many homepages between two log lines of what the filters removed.
FILTER_REPORT_EVERY = 10_000


class HomepageOutput(Protocol):
    """Where published homepages go: a Kafka topic in the worker, a list in tests."""

    async def publish(self, homepage: RankedHomepage) -> None:
        """Send one homepage."""
        ...

    async def retract(self, user_id: str) -> None:
        """Withdraw a user's homepage (they asked to be forgotten)."""
        ...


class HomepageLog(Protocol):
    """Where the impression log goes: a whole batch of homepages at once."""

    async def log(self, homepages: Sequence[RankedHomepage]) -> None:
        """Record every homepage (one record per batch on Kafka)."""
        ...


class DiscardOutput:
    """An output that keeps nothing: for pipelines that only rank."""

    async def publish(self, homepage: RankedHomepage) -> None:
        """Drop the homepage."""

    async def retract(self, user_id: str) -> None:
        """Nothing to withdraw."""

    async def log(self, homepages: Sequence[RankedHomepage]) -> None:
        """Drop the homepages."""


class PublishRankingSideEffect:
    """Publishes each homepage as the user's ranking; a forget publishes its removal."""

    name = "publish_ranking"

    def __init__(self, output: HomepageOutput) -> None:
        self._output = output

    async def apply(self, homepages: Sequence[RankedHomepage]) -> None:
        """Publish every homepage."""
        for homepage in homepages:
            await self._output.publish(homepage)

    async def forget(self, user_id: str) -> None:
        """Publish that the user has no homepage any more."""
        await self._output.retract(user_id)


class ServedLogSideEffect:
    """Logs each published homepage with the features behind it: the next model's data."""

    name = "served_log"

    def __init__(self, output: HomepageLog) -> None:
        self._output = output

    async def apply(self, homepages: Sequence[RankedHomepage]) -> None:
        """Log the batch's homepages together."""
        if homepages:
            await self._output.log(homepages)

    async def forget(self, user_id: str) -> None:
        """Keep the log: what was shown stays history until the topic's retention ends."""


class FilterStatsSideEffect:
    """Counts what each filter removed, and logs the totals now and then."""

    name = "filter_stats"

    def __init__(self, report_every: int = FILTER_REPORT_EVERY) -> None:
        self.removed: Counter[str] = Counter()
        self.homepages = 0
        self._report_every = report_every
        self._next_report = report_every

    async def apply(self, homepages: Sequence[RankedHomepage]) -> None:
        """Add up the removed items per filter."""
        debug = log.isEnabledFor(logging.DEBUG)
        for homepage in homepages:
            for filter_name, item_ids in homepage.removed.items():
                self.removed[filter_name] += len(item_ids)
                if debug:
                    log.debug("%s removed %s for %s", filter_name, item_ids, homepage.user_id)
        self.homepages += len(homepages)
        if self.homepages >= self._next_report:
            self._next_report = self.homepages + self._report_every
            log.info("filters removed over %d homepages: %s", self.homepages, dict(self.removed))

    async def forget(self, user_id: str) -> None:
        """Counts hold no user data."""
