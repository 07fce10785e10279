"""A small MovieLens-format folder with learnable taste, for the click model tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.factories import write_movielens

GENRES = ("Action", "Comedy", "Drama", "Horror")
WORDS = {
    "Action": ("explosion", "chase", "heist"),
    "Comedy": ("laughs", "wedding", "prank"),
    "Drama": ("tears", "family", "courtroom"),
    "Horror": ("ghost", "zombie", "haunted"),
}


def write_taste_folder(
    folder: Path,
    *,
    users: int = 32,
    movies_per_genre: int = 12,
    ratings_per_user: int = 16,
    seed: int = 7,
) -> Path:
    """Users who each love one genre and dislike the others, interleaved in time.

    Every user rates throughout the whole time span, so both the temporal and
    the leave-last-out splits have test events with history.
    """
    rng = np.random.default_rng(seed)
    movies = []
    by_genre: dict[str, list[str]] = {}
    for g, genre in enumerate(GENRES):
        by_genre[genre] = []
        for n in range(movies_per_genre):
            movie_id = str(100 + g * movies_per_genre + n)
            word = WORDS[genre][n % 3]
            movies.append((movie_id, f"The {word} {genre.lower()} tale {n} ({1990 + n})", genre))
            by_genre[genre].append(movie_id)
    ratings = []
    for user in range(users):
        favourite = GENRES[user % len(GENRES)]
        loved = list(rng.permutation(by_genre[favourite]))
        others = [m for g in GENRES if g != favourite for m in by_genre[g]]
        for j in range(ratings_per_user):
            if j % 4 == 3:
                movie, rating = str(rng.choice(others)), 1.0
            else:
                movie, rating = loved.pop(), 5.0
            ratings.append((str(user + 1), movie, rating, 1_000_000_000 + j * 10_000 + user))
    # Duplicate (user, movie) pairs from the random "others" would be re-ratings; drop them.
    seen, unique = set(), []
    for row in ratings:
        if (row[0], row[1]) not in seen:
            seen.add((row[0], row[1]))
            unique.append(row)
    tags = [("1", by_genre["Horror"][0], "very scary", 1_000_000_000)]
    return write_movielens(folder, movies=movies, ratings=unique, tags=tags)


def train_taste_sequence_model(
    folder: Path, out: Path, cache_dir: Path, *, members: int = -1
) -> Path:
    """A sequence model trained briefly (full softmax, 25 s) on a taste folder; returns ``out``.

    ``members``: as ``homefeed train --members`` (-1, the default, lets the
    log decide: a taste folder is sparse, so one model).
    """
    from ranker.training.sequence_fit import train_and_save
    from ranker.training.sequence_train import SequenceTrainConfig
    from ranker.training.train import prepare

    train_and_save(
        prepare(folder, "leave-last-out"),
        out,
        train_config=SequenceTrainConfig(max_seconds=25, patience=30, negatives=0, members=members),
        cache_dir=cache_dir,
        data_facts={"data": str(folder)},
        device="cpu",
    )
    return out
