"""Encoder benchmark on a few real texts: our encoder vs the sentence-transformers peer."""

from bench.encoder import run_encoder_bench


def test_encoder_bench_reports_both_rates_and_their_cosine() -> None:
    result = run_encoder_bench(limit=16, dtype="float32")
    figures = result.figures
    assert figures["texts"] == 16
    assert figures["items_per_s"] > 0 and figures["peer_items_per_s"] > 0
    # Same model, same tokens, float32 both: the vectors agree.
    assert figures["cosine_to_peer"] > 0.999
    speed = result.ratios[0]
    assert speed.value == figures["items_per_s"] or abs(speed.value - figures["items_per_s"]) < 0.1
    assert abs(speed.baseline - figures["peer_items_per_s"]) < 0.1
