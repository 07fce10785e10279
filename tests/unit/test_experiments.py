"""Variant assignment: shares, stability across processes, minimal movement on share changes."""

import subprocess
import sys

import pytest

from ranker.experiments import (
    Experiment,
    ExperimentError,
    Variant,
    assignment_counts,
    experiment_from,
    parse_variants,
)

USERS = [f"user-{n}" for n in range(40_000)]


def experiment(salt: str = "homepage-1", **shares: float) -> Experiment:
    return Experiment(
        salt, tuple(Variant(name, "dot-product", share) for name, share in shares.items())
    )


def assignments(exp: Experiment) -> dict[str, str]:
    return {user: exp.variant_of(user).name for user in USERS}


def test_each_variant_gets_its_share_of_users() -> None:
    exp = experiment(model=50, dot=30, trend=20)
    counts = assignment_counts(exp, USERS)
    for name, wanted in {"model": 0.5, "dot": 0.3, "trend": 0.2}.items():
        # 40k users: one standard error of a 50% share is 0.25 points.
        assert counts[name] / len(USERS) == pytest.approx(wanted, abs=0.015), counts


def test_a_user_keeps_their_variant_in_another_process() -> None:
    """Nothing per process (no hash randomisation, no state) decides a variant."""
    exp = experiment(a=1, b=1, c=1)
    here = [exp.variant_of(user).name for user in USERS[:200]]
    script = (
        "from ranker.experiments import Experiment, Variant\n"
        "exp = Experiment('homepage-1', tuple(Variant(n, 'dot-product', 1) for n in 'abc'))\n"
        "print(','.join(exp.variant_of(f'user-{n}').name for n in range(200)))\n"
    )
    there = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert there.split(",") == here


def test_raising_one_share_moves_users_into_it_only() -> None:
    before = assignments(experiment(model=10, dot=45, trend=45))
    after = assignments(experiment(model=30, dot=45, trend=45))
    moved = {user for user in USERS if before[user] != after[user]}
    assert moved, "a larger share must take some users"
    assert {after[user] for user in moved} == {"model"}
    # Its share went from 10% to 30/120 = 25%: about 15% of users moved, no more.
    assert len(moved) / len(USERS) == pytest.approx(0.25 - 0.10, abs=0.015)


def test_lowering_one_share_moves_users_out_of_it_only() -> None:
    before = assignments(experiment(model=50, dot=25, trend=25))
    after = assignments(experiment(model=20, dot=25, trend=25))
    moved = {user for user in USERS if before[user] != after[user]}
    assert moved and {before[user] for user in moved} == {"model"}


def test_adding_a_variant_takes_users_without_shuffling_the_rest() -> None:
    before = assignments(experiment(model=50, dot=50))
    after = assignments(experiment(model=50, dot=50, new=25))
    moved = {user for user in USERS if before[user] != after[user]}
    assert {after[user] for user in moved} == {"new"}
    assert len(moved) / len(USERS) == pytest.approx(0.2, abs=0.015)


def test_a_new_salt_reshuffles() -> None:
    first = assignments(experiment("homepage-1", a=1, b=1))
    second = assignments(experiment("homepage-2", a=1, b=1))
    changed = sum(first[user] != second[user] for user in USERS) / len(USERS)
    assert changed == pytest.approx(0.5, abs=0.02)


def test_variants_parse_from_settings_text() -> None:
    parsed = parse_variants("model=/srv/models/seq:60, dp=dot-product:40,")
    assert parsed == (Variant("model", "/srv/models/seq", 60.0), Variant("dp", "dot-product", 40.0))
    assert parsed[0].uses_model and not parsed[1].uses_model
    assert parse_variants("win=C:\\models\\seq:1")[0].ranker == "C:\\models\\seq"
    assert experiment_from("salt", "") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model", "expected name=ranker:share"),
        ("model=seq:lots", "is not a number"),
        ("model=seq:0", "share must be above zero"),
        ("a=seq:1,a=dot-product:1", "names must differ: a"),
        ("bad name=seq:1", "letters, digits"),
        ("a=:1", "say what ranks"),
    ],
)
def test_bad_declarations_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ExperimentError, match=message):
        experiment_from("salt", text)


def test_an_experiment_needs_a_salt() -> None:
    with pytest.raises(ExperimentError, match="salt"):
        experiment_from("", "a=dot-product:1")
