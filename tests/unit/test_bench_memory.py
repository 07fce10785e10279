"""Memory benchmark without a live worker: state bytes per user from the real MovieLens replay."""

from bench.memory import run_memory_bench


def test_state_size_figures_come_from_real_users() -> None:
    result = run_memory_bench(with_worker=False)
    figures = result.figures
    assert figures["state_users"] == 610
    assert (
        0
        < figures["bytes_per_user_p50"]
        <= figures["bytes_per_user_p95"]
        <= figures["bytes_per_user_max"]
    )
    ratio = result.ratios[0]
    assert round(ratio.baseline, 1) == figures["bytes_per_user"]
