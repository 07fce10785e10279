"""Dead-letter publishing: bad input is kept, with the reason, never dropped."""

from __future__ import annotations

import logging

import faust
from faust.types import EventT

from streams.wire import DeadLetter

log = logging.getLogger(__name__)


class DeadLetterPublisher:
    """Sends rejected messages to the dead-letter topic and counts them."""

    def __init__(self, topic: faust.TopicT) -> None:
        self._topic = topic
        self.count = 0

    async def reject(self, event: EventT, reason: str) -> None:
        """Publish the original bytes of ``event``'s message with ``reason``."""
        message = event.message
        self.count += 1
        log.warning(
            "dead-letter %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason
        )
        letter = DeadLetter(
            source_topic=message.topic,
            reason=reason,
            original=message.value if isinstance(message.value, bytes) else b"",
            original_key=message.key if isinstance(message.key, bytes) else None,
            partition=message.partition,
            offset=message.offset,
        )
        await self._topic.send(key=message.key, value=letter.encode())
