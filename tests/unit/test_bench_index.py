"""Index benchmark on a tiny synthetic catalog: keys, and ratios against the same run's Flat."""

from bench.index import IndexConfig, run_index_bench


def test_index_bench_rows_compare_with_flat_of_the_same_run() -> None:
    configs = [IndexConfig("Flat"), IndexConfig("HNSW32"), IndexConfig("IVF16,Flat", (2, 4))]
    result = run_index_bench([1_000], queries=20, real=False, configs=configs)
    rows = result.figures["configurations"]
    assert [row["name"] for row in rows] == [
        "Flat",
        "HNSW32",
        "IVF16,Flat/nprobe=2",
        "IVF16,Flat/nprobe=4",
    ]
    flat = rows[0]
    assert flat["recall@100"] == 1.0
    for row in rows:
        assert {"name", "n", "recall@100", "qps", "flat_qps"} <= set(row)
        assert row["n"] == 1_000
        assert row["flat_qps"] == flat["qps"]
        assert row["speedup"] == round(row["qps"] / flat["qps"], 2)
        assert 0.0 <= row["recall@100"] <= 1.0
    best = result.ratios[0]
    assert best.baseline == flat["qps"]
