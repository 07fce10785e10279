from bench.sequence import run_sequence_bench


def test_the_sequence_bench_measures_both_paths_per_batch_size() -> None:
    result = run_sequence_bench(items=3000, batch_sizes=(4, 16), history=10)
    for batch in (4, 16):
        figures = result.figures[f"batch_{batch}"]
        # encode + search against encode alone, each timed on its own: under
        # load the two can swap by the search's few microseconds, so each is
        # only checked to be a real measurement
        assert figures["model_ms_per_user"] > 0 and figures["encode_ms_per_user"] > 0
        assert figures["pooled_baseline_ms_per_user"] > 0
        assert figures["model_with_text_blend_ms_per_user"] > 0
        assert figures["members_3_with_text_blend_ms_per_user"] > 0
    assert [r.name for r in result.ratios] == [
        "model_vs_pooled_users_per_s_batch_4",
        "model_vs_pooled_users_per_s_batch_16",
    ]
