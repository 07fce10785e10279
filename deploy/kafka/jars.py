"""The broker's jars: the version pinned in pom.xml, fetched once from Maven Central.

``fetch.sh`` and ``pom.xml`` sit beside this module, so the jars can be fetched
from an installed package as well as from the repository.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

logger = logging.getLogger(__name__)

KAFKA_DEPLOY_DIR = Path(__file__).resolve().parent
FETCH_SCRIPT = KAFKA_DEPLOY_DIR / "fetch.sh"
KAFKA_POM = KAFKA_DEPLOY_DIR / "pom.xml"
FETCH_TIMEOUT_S = 900.0


class BrokerError(RuntimeError):
    """The local broker could not be fetched, started or stopped."""


def default_cache_dir() -> Path:
    """Where fetched jars live unless the caller says otherwise (shared by all clones)."""
    return Path.home() / ".cache" / "homefeed"


def kafka_version(pom: Path = KAFKA_POM) -> str:
    """Return the pinned broker version: the ``kafka.version`` property of the pom."""
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    element = ElementTree.parse(pom).getroot().find("m:properties/m:kafka.version", namespace)
    if element is None or not (element.text or "").strip():
        raise BrokerError(f"no <kafka.version> property in {pom}")
    return (element.text or "").strip()


def ensure_jars(cache_dir: Path | None = None) -> Path:
    """Return the folder holding the broker's jars, fetching them first if needed."""
    cache = cache_dir or default_cache_dir()
    home = cache / f"kafka-{kafka_version()}"
    libs = home / "libs"
    # Same marker as fetch.sh: the pom's hash, so editing the pom fetches again.
    pom_hash = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()[:16]
    marker = home / ".complete"
    if marker.is_file() and marker.read_text().strip() == pom_hash and libs.is_dir():
        return libs
    logger.info("fetching Kafka jars into %s (first run only)", libs)
    started = time.monotonic()
    try:
        result = subprocess.run(
            ["bash", str(FETCH_SCRIPT)],
            env={**os.environ, "HOMEFEED_CACHE": str(cache)},
            capture_output=True,
            text=True,
            timeout=FETCH_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"fetching Kafka jars took over {FETCH_TIMEOUT_S:.0f}s") from exc
    if result.returncode != 0:
        raise BrokerError(f"{FETCH_SCRIPT} failed:\n{result.stderr[-4000:]}")
    logger.info("fetched Kafka jars in %.1fs", time.monotonic() - started)
    return Path(result.stdout.strip().splitlines()[-1])
