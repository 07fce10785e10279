"""Bad input at the command line: one line naming the file (and line), exit status 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.kafka import free_ports
from tests.factories import REPO_ROOT, SHARED_DATA, write_movielens

MOVIES = [("1", "Heat (1995)", "Action"), ("2", "Up (2009)", "Animation")]


def homefeed(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=REPO_ROOT,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("homefeed:")]
    assert len(lines) == 1, done.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def test_a_folder_that_is_not_a_data_set(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = homefeed("train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "m"))
    assert_one_line_error(done, "movies.csv", "ratings.csv")
    done = homefeed("replay", "--data", str(tmp_path / "empty"), "--items-only")
    assert_one_line_error(done, str(tmp_path / "empty"), "not a data set")


def test_ratings_without_a_timestamp_column(tmp_path: Path) -> None:
    folder = write_movielens(tmp_path / "data", movies=MOVIES, ratings=[])
    (folder / "ratings.csv").write_text("userId,movieId,rating\n1,1,4.0\n")
    done = homefeed("train", "--data", str(folder), "--out", str(tmp_path / "m"))
    assert_one_line_error(done, "ratings.csv:1", "missing column timestamp")


@pytest.mark.parametrize(
    ("row", "problem"),
    [("1,1,4.0,abc", "timestamp 'abc' is not a whole number"), ("1,2,four,20", "rating 'four'")],
)
def test_a_row_that_does_not_parse_names_its_line(tmp_path: Path, row: str, problem: str) -> None:
    folder = write_movielens(tmp_path / "data", movies=MOVIES, ratings=[("1", "1", 4.0, 10)])
    with (folder / "ratings.csv").open("a") as handle:
        handle.write(row + "\n")
    done = homefeed("eval", "--data", str(folder), "--out", str(tmp_path / "e.json"))
    assert_one_line_error(done, "ratings.csv:3", problem)


def test_a_model_folder_that_is_not_one(tmp_path: Path) -> None:
    folder = write_movielens(tmp_path / "data", movies=MOVIES, ratings=[("1", "1", 4.0, 10)])
    for command in (
        ["eval", "--data", str(folder), "--model", str(tmp_path), "--out", str(tmp_path / "e")],
        ["demo", "--data", str(folder), "--model", str(tmp_path)],
    ):
        assert_one_line_error(homefeed(*command), str(tmp_path), "not a model folder")


def test_a_broker_that_does_not_answer(tmp_path: Path) -> None:
    (closed,) = free_ports(1)
    done = homefeed(
        "replay",
        "--data",
        str(SHARED_DATA / "msn-news-sample"),
        "--items-only",
        env={"HOMEFEED_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed}", "HOMEFEED_DATA_DIR": str(tmp_path)},
    )
    assert_one_line_error(done, f"cannot reach Kafka at 127.0.0.1:{closed}")
    # Nothing else on stderr: the client's retries are not the user's business.
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = homefeed("serve", "--port", str(port))
    assert_one_line_error(done, f"cannot listen on 127.0.0.1:{port}", "--port")


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("HOMEFEED_PARTITIONS", "many", "HOMEFEED_PARTITIONS: Input should be a valid integer"),
        ("HOMEFEED_EXPERIMENT_VARIANTS", "model=seq", "expected name=ranker:share"),
    ],
)
def test_a_bad_setting_names_its_variable(variable: str, value: str, problem: str) -> None:
    done = homefeed("worker", env={variable: value})
    assert_one_line_error(done, "bad setting", problem)


def test_bench_e2e_with_a_model_folder_that_holds_no_model(tmp_path: Path) -> None:
    done = homefeed("bench", "e2e", "--model", str(tmp_path))
    assert_one_line_error(done, "--model", str(tmp_path), "not a model folder")
