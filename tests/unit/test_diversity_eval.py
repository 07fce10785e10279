import numpy as np

from ranker.eval.diversity import capped_metrics, diversity_cost


def test_capping_pushes_a_same_category_hit_out_of_the_top_ten() -> None:
    keys = ["a"] * 12 + ["b"] * 12 + ["c"] * 12 + ["d"] * 12  # rows 0-11 in a, 12-23 in b, …
    top = np.array([list(range(48))])
    # The clicked item is the 4th "a" item: shown uncapped at rank 4, pushed
    # below the window when "a" may fill only 3 of the top 10.
    uncapped = capped_metrics(top, np.array([3]), keys, max_per_key=10)
    assert uncapped == {"hit@10": 1.0, "full_ndcg@10": 1.0 / np.log2(5)}
    assert capped_metrics(top, np.array([3]), keys, max_per_key=3)["hit@10"] == 0.0
    # A "b" item moves up instead: hit at rank 4 (after three "a" items).
    # With too few categories to fill the window, capped items still fill it.
    assert capped_metrics(top[:, :24], np.array([3]), keys, max_per_key=3)["hit@10"] == 1.0
    moved = capped_metrics(top, np.array([12]), keys, max_per_key=3)
    assert moved == {"hit@10": 1.0, "full_ndcg@10": 1.0 / np.log2(5)}


def test_cost_table_has_the_uncapped_reference() -> None:
    keys = ["a", "a", "b"]
    result = diversity_cost(np.array([[0, 1, 2]]), np.array([2]), keys, caps=[1])
    assert set(result) == {"none", "1"}
    assert result["1"]["full_ndcg@10"] > result["none"]["full_ndcg@10"]
