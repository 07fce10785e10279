import numpy as np

from ranker.interest import pool_interest, recency_weights
from ranker.state import Interaction


def test_newest_interaction_weighs_most() -> None:
    history = [Interaction(f"i{n}", "click", n) for n in range(3)]
    weights = recency_weights(history, half_life=1.0)
    np.testing.assert_allclose(weights, [0.25, 0.5, 1.0])


def test_dislike_pushes_interest_away() -> None:
    vectors = np.eye(2, dtype=np.float32)
    history = [Interaction("a", "click", 1), Interaction("b", "dislike", 2)]
    interest = pool_interest(vectors, recency_weights(history, half_life=10.0))
    assert interest is not None
    assert interest[0] > 0 > interest[1]
    assert abs(np.linalg.norm(interest) - 1) < 1e-5


def test_only_dislikes_give_no_interest() -> None:
    vectors = np.eye(2, dtype=np.float32)
    history = [Interaction("a", "dislike", 1)]
    assert pool_interest(vectors[:1], recency_weights(history, 10.0)) is None
