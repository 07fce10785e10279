"""Train the sequence model: every prefix predicts its next item, full-softmax CE.

Each user's training interactions (in time order) are cut into windows of
``max_length + 1``; in one pass, every position of a window predicts the item
after it, with a softmax over the whole catalog in which the items the user
already touched earlier in the window are masked out (they are never ranked at
serving time either). Early stopping on full-ranking validation nDCG@10: the
user's validation item ranked against every item they have not touched.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from indexer.encoder import cpu_supports_bf16
from ranker.eval.metrics import target_ranks
from ranker.model.sequence import PAD, SequenceConfig, SequenceModel, prefix_text_profiles
from ranker.model.sequence_ensemble import ScoringModel
from ranker.model.sequence_input import History, Timeline, history_tensors
from ranker.training.catalog_softmax import catalog_cross_entropy
from ranker.training.sequence_batches import training_windows

if TYPE_CHECKING:
    from ranker.training.text_tuning import TextTuner

log = logging.getLogger(__name__)


# Chosen by validation on ml-latest-small (seed 0, 480 s): the full softmax gave
# val nDCG@10 0.0787 against 0.0554 for 2,048 shared uniform negatives, though a
# step costs ~4x more; above this many items a step would cost too much on CPU.
FULL_SOFTMAX_ITEMS = 20_000
SAMPLED_NEGATIVES = 2048
AUTO = -1


# Members of the ensemble (ranker/model/sequence_ensemble.py) under AUTO: as
# many, up to MAX_MEMBERS, as each get MEMBER_EPOCHS epochs within the budget,
# the first epoch's time telling. On ml-latest-small (seeds 0-2, ~20 epochs
# each in 160 s) three members summed gave val nDCG@10 0.0797 against 0.0748
# for a member alone. Sparse logs keep one model (sequence_fit.fit_sequence_model).
MAX_MEMBERS = 3
MEMBER_EPOCHS = 15


def members_for(setting: int, epoch_seconds: float, budget_seconds: float) -> int:
    """How many members to train (``setting``, or under AUTO as many as fit)."""
    if setting != AUTO:
        return max(1, setting)
    fitting = int(budget_seconds // max(epoch_seconds * MEMBER_EPOCHS, 1e-9))
    return max(1, min(MAX_MEMBERS, fitting))


def negatives_for(setting: int, items: int) -> int:
    """Negatives per batch for a catalog of ``items`` (0: full softmax over it)."""
    if setting == AUTO:
        return 0 if items <= FULL_SOFTMAX_ITEMS else SAMPLED_NEGATIVES
    return 0 if setting >= items else setting


@dataclass(frozen=True)
class SequenceTrainConfig:
    """Optimisation settings (saved beside the weights)."""

    protocol: str = "leave-last-out"
    # Items in the sampled softmax, shared by a batch; 0: the whole catalog;
    # AUTO: the whole catalog up to FULL_SOFTMAX_ITEMS, SAMPLED_NEGATIVES above.
    negatives: int = -1
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.0
    id_dropout: float = 0.1
    max_epochs: int = 200
    max_seconds: float = 480.0
    patience: int = 10
    eval_every: int = 1
    seed: int = 0
    threads: int = 2
    # bf16 autocast and bf16 catalog products; None: where the CPU has native
    # bf16 (AVX512-BF16/AMX), float32 elsewhere (emulated bf16 is slower).
    # Validation chose it on ml-latest-small (seed 0): val nDCG@10 0.0806 in
    # 369 s against 0.0787 in 476 s for float32, steps 0.24 s against 0.31 s.
    bf16: bool | None = None
    # Decay per step of an exponential moving average of the weights, which
    # validation and the saved model use instead of the last step's (0: off).
    # Averaging damps the step-to-step noise that a constant learning rate
    # leaves in the weights.
    weight_average: float = 0.0
    # Independently trained members summed (AUTO: members_for), sharing the budget.
    members: int = AUTO


@dataclass
class SequenceTrainReport:
    """What happened in training."""

    epochs_run: int = 0
    best_epoch: int = 0
    best_val_ndcg10: float = 0.0
    val_ndcg10: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    windows: int = 0
    seconds: float = 0.0
    text_blend: float = 0.0
    profile_decay: float = 1.0
    text_blend_val_ndcg10: dict[str, float] = field(default_factory=dict)
    # Ensembles: how many members, and each member's best epoch and validation
    # nDCG@10 (the fields above are the first member's; best_val_ndcg10 the sum's).
    members: int = 1
    member_best_epochs: list[int] = field(default_factory=list)
    member_val_ndcg10: list[float] = field(default_factory=list)

    @property
    def final_val_ndcg10(self) -> float:
        """Validation nDCG@10 of the model as saved: with its chosen blend, if one was tried."""
        return max(self.text_blend_val_ndcg10.values(), default=self.best_val_ndcg10)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)


def window_loss(
    model: SequenceModel,
    windows: torch.Tensor,
    gaps: torch.Tensor,
    types: torch.Tensor,
    id_keep: torch.Tensor | None,
    negatives: torch.Tensor | None = None,
    *,
    low_precision: bool = False,
    text: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean next-item cross-entropy over every real position of ``windows`` ``(B, L+1)``.

    With ``negatives`` (item rows shared by the batch, drawn uniformly) the
    softmax runs over the target and those items only (sampled softmax; under
    uniform draws the logQ correction is a constant and drops out); without,
    over the whole catalog with the items seen earlier masked. ``text``
    replaces the stored text table (a step that tunes the text encoder).
    """
    item_vectors = model.items(id_keep, text)
    inputs, targets = windows[:, :-1], windows[:, 1:]
    hidden = model.encode(inputs, gaps[:, :-1], types[:, :-1], item_vectors)
    length = inputs.shape[1]
    later = torch.triu(torch.ones(length, length, dtype=torch.bool, device=windows.device), 1)
    earlier = inputs[:, None, :].expand(-1, length, -1).masked_fill(later[None], PAD)
    # A position whose target the user touched before (a repeat) is left out:
    # repeats are never ranked live (the seen filter drops them).
    repeat = (earlier == targets[..., None]).any(-1)
    real = (targets != PAD) & ~repeat
    hidden, targets = hidden[real], targets[real]
    frozen = 0
    if model.text_weight is not None:
        # The learned text term rides in the same product: users
        # [h, w · query], items [item vector, frozen text vector].
        profiles = prefix_text_profiles(
            model.items.text[inputs], types[:, :-1], model.config.profile_decay
        )[real]
        queries = model.text_queries(hidden, profiles)
        hidden = torch.cat([hidden, model.text_weight * queries.to(hidden.dtype)], dim=1)
        item_vectors = torch.cat([item_vectors, model.items.text.to(item_vectors.dtype)], dim=1)
        frozen = model.items.text.shape[1]
    if negatives is not None:
        positive = (hidden * item_vectors[targets]).sum(-1, keepdim=True)
        sampled = hidden @ item_vectors[negatives].T
        sampled = sampled.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))
        logits = torch.cat([positive, sampled], dim=1).float()
        return torch.nn.functional.cross_entropy(
            logits, torch.zeros(len(targets), dtype=torch.long, device=logits.device)
        )
    # Only real positions pay for the catalog-wide softmax; items seen at or
    # before each position (and the padding row) are masked, as they are never
    # ranked; so are items with no training interaction (see unseen_items).
    masked = torch.nn.functional.pad(earlier[real], (1, 0), value=PAD)
    return catalog_cross_entropy(
        hidden,
        item_vectors,
        targets,
        masked,
        excluded=unseen_items(model),
        low_precision=low_precision,
        frozen_columns=frozen,
    )


def unseen_items(model: SequenceModel) -> torch.Tensor | None:
    """Item rows no training sequence holds, left out of the training softmax.

    Such items did not exist for the training data (under ``new-items`` they
    are the held-out ones). Left in, every step pushes their text down as a
    never-clicked item, and the model learns to bury exactly the items it will
    later have to rank from text alone.
    """
    has_id = model.items.has_id
    return None if not bool(has_id.any()) else ~has_id


def token_batches(
    lengths: np.ndarray, budget: int, rng: np.random.Generator, chunk: int = 4096
) -> list[np.ndarray]:
    """Shuffled batches of window rows, each at most ``budget`` padded positions.

    Windows are sorted by length within random chunks, so a batch pads little:
    long MovieLens windows come 16 to a batch, short Amazon ones hundreds, and
    every step costs about the same.
    """
    order = rng.permutation(len(lengths))
    batches: list[np.ndarray] = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        begin = 0
        for end in range(1, len(part) + 1):
            # Sorted ascending, so the newest window sets the batch's padded width.
            if end == len(part) or (end + 1 - begin) * lengths[part[end]] > budget:
                batches.append(part[begin:end])
                begin = end
    return [batches[i] for i in rng.permutation(len(batches))]


@torch.inference_mode()
def catalog_scores(
    model: ScoringModel,
    history: History,
    batch_size: int = 256,
    *,
    part: str = "all",
    text_weight: float | None = None,
) -> np.ndarray:
    """``(B, items)`` scores of every catalog item (row 0 dropped) for each history.

    ``part``: ``all`` (what the model ranks by), ``model`` (``user · item``
    only) or ``text`` (the text term only, unweighted: the text-profile cosine,
    or with a learned text query, ``query · text vector``). ``text_weight``
    replaces the configured blend weight (training validates with the weight
    it is learning).
    """
    model.eval()
    item_vectors = model.items()
    texts = model.items.text[1:]
    blend = model.config.text_blend if text_weight is None else text_weight
    out = np.empty((len(history), model.config.items), dtype=np.float32)
    for start in range(0, len(history), batch_size):
        rows = np.arange(start, min(start + batch_size, len(history)))
        sequence, gaps, types = history_tensors(history.take(rows), model.config.max_length)
        scores = torch.zeros(len(rows), model.config.items)
        users = None
        if part in ("all", "model") or model.text_query is not None:
            users = model.user_vectors(sequence, gaps, types, item_vectors)
        if users is not None and part in ("all", "model"):
            scores += users @ item_vectors[1:].T
        if part == "text" or (part == "all" and blend):
            weight = 1.0 if part == "text" else blend
            profiles = model.text_profiles(sequence, types)
            queries = profiles if users is None else model.text_queries(users, profiles)
            scores += weight * (queries @ texts.T)
        out[rows] = scores.numpy()
    return out


# Text-blend weights tried after training, in units of the model scores'
# spread over the text cosines' spread on the validation users.
TEXT_BLEND_GRID = (0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
# Recency decays of the text profile tried with each weight (1: plain mean).
PROFILE_DECAY_GRID = (1.0, 0.7, 0.4, 0.2, 0.1)


def blend_key(weight: float, decay: float) -> str:
    """How a (weight, decay) pair is named in the training report."""
    return f"{weight:.4g}" if decay == 1.0 else f"{weight:.4g}@decay{decay:g}"


def choose_text_blend(
    model: ScoringModel,
    val_history: History,
    val_seen: list[np.ndarray],
    val_targets: np.ndarray,
) -> dict[str, float]:
    """Set the text blend weight and profile decay with the best validation nDCG@10.

    Returns the validation nDCG@10 of each pair tried, keyed by
    :func:`blend_key`. A model without a text path keeps 0: the id-only row
    stays a plain SASRec.
    """
    if not model.config.use_text:
        return {}
    # Two float32 score matrices of validation users × catalog: bounded to
    # about 800 MB each on large catalogs by choosing on fewer users.
    kept = np.arange(min(len(val_history), max(500, 200_000_000 // model.config.items)))
    val_history, val_seen, val_targets = (
        val_history.take(kept),
        [val_seen[i] for i in kept.tolist()],
        val_targets[kept],
    )
    model_part = catalog_scores(model, val_history, part="model")
    tried: dict[tuple[float, float], float] = {}
    for decay in PROFILE_DECAY_GRID:
        model.config = replace(model.config, profile_decay=decay)
        text_part = catalog_scores(model, val_history, part="text")
        unit = float(model_part.std()) / max(float(text_part.std()), 1e-9)
        weights = [relative * unit for relative in TEXT_BLEND_GRID if relative or decay == 1.0]
        if model.text_weight is not None and decay == 1.0:
            weights.append(float(model.text_weight.detach()))  # the weight training learned
        for weight in weights:
            tried[weight, decay] = full_ndcg10(
                model_part + weight * text_part, val_seen, val_targets
            )
    # Ties go to the smaller weight, then to the plain mean (weight 0 is only
    # tried with it, so no blend always keeps decay 1).
    best_weight, best_decay = max(tried, key=lambda pair: (tried[pair], -pair[0], pair[1]))
    model.config = replace(model.config, text_blend=float(best_weight), profile_decay=best_decay)
    return {blend_key(weight, decay): ndcg for (weight, decay), ndcg in tried.items()}


def full_ndcg10(scores: np.ndarray, seen: list[np.ndarray], targets: np.ndarray) -> float:
    """Mean nDCG@10 of ``targets`` in full rankings without ``seen`` (as ``eval`` ranks)."""
    ranks = target_ranks(scores, seen, targets)
    return float(np.mean(np.where(ranks < 10, 1.0 / np.log2(ranks + 2.0), 0.0)))


class WeightAverage:
    """An exponential moving average of a model's floating-point parameters.

    The decay ramps up from zero (``min(decay, (1 + t) / (10 + t))`` after
    ``t`` updates) so the first steps' random weights do not linger.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"weight_average must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        """Fold the parameters' current values into the average."""
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_mul_(self.shadow, decay)
        torch._foreach_add_(self.shadow, [p.detach() for p in self.params], alpha=1 - decay)

    @torch.no_grad()
    def swap(self) -> None:
        """Exchange the parameters and the average (call twice to undo)."""
        for param, shadow in zip(self.params, self.shadow, strict=True):
            held = param.detach().clone()
            param.copy_(shadow)
            shadow.copy_(held)


def time_bar(elapsed_s: float, budget_s: float, width: int = 24) -> str:
    """``[#######.....]  120/480s``: how much of the time budget training has used."""
    filled = min(width, int(width * elapsed_s / budget_s)) if budget_s > 0 else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {elapsed_s:4.0f}/{budget_s:.0f}s"


def train_sequence_model(
    model: SequenceModel,
    timelines: list[Timeline],
    val_history: History,
    val_seen: list[np.ndarray],
    val_targets: np.ndarray,
    config: SequenceTrainConfig,
    *,
    progress: bool = False,
    choose_blend: bool = True,
    tuner: TextTuner | None = None,
) -> SequenceTrainReport:
    """Train ``model`` in place; keeps the epoch with the best validation nDCG@10.

    With ``tuner`` the text encoder's top is trained too, and the model's
    text table re-encoded with it after every epoch (ranker/training/text_tuning.py).

    After the first epoch ``report.members`` is set (``config.members``, or
    under AUTO as many as the first epoch's time fits) and this training keeps
    its share of the budget, ``max_seconds / members``; the caller trains the
    other members. ``choose_blend`` False leaves the text
    blend to the caller (an ensemble chooses one for the sum).
    """
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    torch.set_num_threads(max(1, config.threads))
    rng = np.random.default_rng(config.seed)
    windows = training_windows(timelines, model.config.max_length + 1)
    report = SequenceTrainReport(windows=len(windows))
    lengths = (windows.rows > 0).sum(axis=1)
    if len(windows) == 0:
        raise ValueError("no training sequences with two or more interactions")
    model_weights = list(model.parameters())
    tuned_weights = [] if tuner is None else tuner.parameters()
    groups: list[dict[str, Any]] = [{"params": model_weights}]
    if tuner is not None:
        groups.append({"params": tuned_weights, "lr": tuner.lr, "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    trained_weights = model_weights + tuned_weights
    average = WeightAverage(model, config.weight_average) if config.weight_average else None
    stale = 0
    items = model.config.items
    sampled = negatives_for(config.negatives, items)
    bf16 = cpu_supports_bf16() if config.bf16 is None else config.bf16
    if tuner is not None:
        tuner.refresh(model.items, bf16)  # the tuned encoder's own starting vectors
    best_state = copy.deepcopy(model.state_dict())
    # Sampled negatives come from trained items only, as the full softmax's do.
    unseen = unseen_items(model)
    trained = np.arange(1, items + 1) if unseen is None else np.flatnonzero(~unseen.numpy())
    budget = config.max_seconds  # this training's share: set after the first epoch
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        losses = []
        for rows in token_batches(lengths, config.batch_size * (model.config.max_length + 1), rng):
            batch = windows.take(rows)
            sequence, gaps, types = history_tensors(batch, int(lengths[rows].max()))
            id_keep = None
            if config.id_dropout > 0:
                id_keep = torch.from_numpy(rng.random(items + 1) >= config.id_dropout)
            negatives = None
            if sampled:
                negatives = torch.from_numpy(trained[rng.integers(0, len(trained), sampled)])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                text = None
                if tuner is not None:
                    text = tuner.step_table(model.items.text, sequence, rng)
                loss = window_loss(
                    model, sequence, gaps, types, id_keep, negatives, low_precision=bf16, text=text
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trained_weights, 5.0)
            optimizer.step()
            if average is not None:
                average.update()
            losses.append(float(loss.detach()))
        report.epochs_run = epoch
        report.train_loss.append(float(np.mean(losses)))
        if tuner is not None:
            tuner.refresh(model.items, bf16)
        elapsed = time.perf_counter() - started
        if epoch == 1:
            # Every member gets an equal share, whether the count was asked
            # for or fitted to the first epoch's time.
            report.members = members_for(config.members, elapsed, config.max_seconds)
            budget = config.max_seconds / report.members
        out_of_time = elapsed > budget
        if epoch % config.eval_every and not out_of_time:
            continue
        if average is not None:
            average.swap()  # validate (and keep) the averaged weights
        learned = None if model.text_weight is None else float(model.text_weight.detach())
        ndcg = full_ndcg10(
            catalog_scores(model, val_history, text_weight=learned), val_seen, val_targets
        )
        report.val_ndcg10.append(ndcg)
        log.info(
            "epoch %d: loss %.4f, val nDCG@10 %.4f (%.0fs)",
            epoch,
            report.train_loss[-1],
            ndcg,
            elapsed,
        )
        if progress:
            best = max(ndcg, report.best_val_ndcg10)
            print(
                f"epoch {epoch:3d} {time_bar(elapsed, budget)} "
                f"loss {report.train_loss[-1]:.4f}, val nDCG@10 {ndcg:.4f} (best {best:.4f})",
                flush=True,
            )
        improved = ndcg > report.best_val_ndcg10
        if improved:
            report.best_val_ndcg10, report.best_epoch, stale = ndcg, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        if average is not None:
            average.swap()  # back to the raw weights the optimizer steps
        if not improved:
            stale += 1
            if stale >= config.patience:
                break
        if out_of_time:
            break
    model.load_state_dict(best_state)
    model.eval()
    report.seconds = time.perf_counter() - started
    if choose_blend:
        choose_and_report_blend(model, val_history, val_seen, val_targets, report)
        report.seconds = time.perf_counter() - started
    return report


def choose_and_report_blend(
    model: ScoringModel,
    val_history: History,
    val_seen: list[np.ndarray],
    val_targets: np.ndarray,
    report: SequenceTrainReport,
) -> None:
    """:func:`choose_text_blend` on ``model``, recorded in ``report``."""
    blends = choose_text_blend(model, val_history, val_seen, val_targets)
    report.text_blend = model.config.text_blend
    report.profile_decay = model.config.profile_decay
    report.text_blend_val_ndcg10 = blends
    if blends:
        log.info(
            "text blend %.4g, profile decay %g: val nDCG@10 %.4f (without: %.4f)",
            report.text_blend,
            report.profile_decay,
            max(blends.values()),
            blends["0"],
        )


__all__ = [
    "SequenceConfig",
    "SequenceTrainConfig",
    "SequenceTrainReport",
    "catalog_scores",
    "full_ndcg10",
    "train_sequence_model",
    "window_loss",
]
