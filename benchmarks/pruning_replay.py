"""Would another pruning rule have kept the winner? Pruning rules replayed on trained trials.

    .venv/bin/python benchmarks/pruning_replay.py runs/search_bench
    .venv/bin/python benchmarks/pruning_replay.py runs/search_bench --studies tpe-0,random-0

The unpruned searches of `search_efficiency.py` (tpe-*, random-*) trained every trial to its
full budget, and each trial's metrics.jsonl holds every epoch's val_loss, train_loss and
attention_score. Each rule below is replayed on each study's trials in their order: the TTS
rule (`PruningPolicy`) and Optuna's own pruner in an in-memory study, as a search with that
rule would have asked them, epoch by epoch.

The sampler's points are held fixed: a real search with pruning samples its later points from
what it saw, so this measures the rule alone, not the search. It costs no training: run it
whenever the benchmark has new finished trials.

Optuna's successive halving promotes the top 1/3 of the trials at a rung, but never fewer than
one: with under 6 trials at the rung only the best one so far goes on, which is what a small
study on a CPU has. The median rule compares a trial's best value so far with the median of
the others' at the same epoch, every epoch. "best so far": the trial reports its lowest
val_loss so far instead of the epoch's own (which swings by 0.05-0.4 from one epoch to the
next), as its final value is its lowest.

Per rule, summed over the studies: trial-epochs spent (against training every trial in full),
trials pruned, studies whose best trial survived (the best: the lowest val_loss of a trial
whose attention formed, as `optimize` answers; teacher-forced loss does not need attention),
the mean gap between the best kept and the study's best, and the trial-epochs until the
study's best trial finished against those without pruning, summed over the studies where the
rule kept it (the benchmark's "epochs to reach plain TPE's best", on the same points).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from smart_tuner.search.budget import counts_toward_budget, retried_numbers  # noqa: E402
from smart_tuner.search.pruning import PruningPolicy  # noqa: E402

Curve = list[dict[str, float]]  # one dict of metrics per epoch, epoch 1 first


@dataclass(frozen=True)
class Rule:
    name: str
    mode: str  # PruningPolicy.mode
    pruner: Callable[[int], optuna.pruners.BasePruner | None]  # grace point -> the pruner
    running_best: bool = False  # report the best val_loss so far, not the epoch's own
    study_grace: bool = False  # the grace point learned from the study's earlier trials


def rules(grace: int) -> list[Rule]:
    def halving(first_rung: int) -> Callable[[int], optuna.pruners.BasePruner]:
        return lambda _: optuna.pruners.SuccessiveHalvingPruner(
            min_resource=first_rung, reduction_factor=3
        )

    return [
        Rule("none", "none", lambda _: optuna.pruners.NopPruner()),
        Rule("oracle: all but the best stopped at the grace point", "oracle", lambda _: None),
        Rule("median from epoch 1", "loss_only", lambda _: _median()),
        Rule("halving from epoch 1", "loss_only", halving(1)),
        Rule("attention rule only, fixed grace", "tts", lambda _: optuna.pruners.NopPruner()),
        Rule(f"tts, fixed grace: loss rung at the grace point ({grace})", "tts", halving(grace)),
        Rule(f"tts: loss rung at {grace + 3}", "tts", halving(grace + 3)),
        Rule(f"tts: loss rung at {grace + 5}", "tts", halving(grace + 5)),
        Rule(
            "tts: median from the grace point",
            "tts",
            lambda g: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=g),
        ),
        Rule("attention rule only, study grace", "tts", lambda _: None, study_grace=True),
        Rule("tts, study grace: halving (the default)", "tts", halving(grace), study_grace=True),
        Rule(
            "tts, study grace: median",
            "tts",
            lambda g: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=g),
            study_grace=True,
        ),
        Rule(f"tts: rung at {grace}, best so far", "tts", halving(grace), running_best=True),
        Rule(
            "tts: median from the grace point, best so far",
            "tts",
            lambda g: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=g),
            running_best=True,
        ),
    ]


def _median() -> optuna.pruners.BasePruner:
    """Optuna's median rule from the first epoch, once 2 trials finished (its default waits
    for 5, all a small study has)."""
    return optuna.pruners.MedianPruner(n_startup_trials=2)


@dataclass
class Outcome:
    epochs: int
    value: float | None  # None: pruned, or finished without attention (never the answer)


MIN_ATTENTION = 0.3  # search.min_attention_score


def aligned(curve: Curve) -> bool:
    """Whether the trial's attention had formed at its end: `optimize` only answers with
    such a trial (`smart_tuner.search.selection`)."""
    return curve[-1].get("attention_score", 1.0) >= MIN_ATTENTION


def answer(curve: Curve) -> float | None:
    return min(m["val_loss"] for m in curve) if aligned(curve) else None


def replay(curves: list[Curve], rule: Rule, grace: int) -> list[Outcome]:
    """Each trial in order under `rule`: where it would have stopped, and its value if it
    finished (its best val_loss, as the search scores it)."""
    if rule.mode == "oracle":
        return oracle(curves, grace)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = rule.pruner(grace) or optuna.pruners.NopPruner()
    study = optuna.create_study(direction="minimize", pruner=pruner)
    outcomes = []
    onsets: list[int] = []  # when the finished trials' attention formed
    for curve in curves:
        trial = study.ask()
        policy = PruningPolicy(
            mode=rule.mode,  # type: ignore[arg-type]
            grace_epochs=grace,
            study_onsets=(lambda: onsets) if rule.study_grace else None,
        )
        stopped = None
        so_far = math.inf
        for epoch, metrics in enumerate(curve, start=1):
            so_far = min(so_far, metrics["val_loss"])
            trial.report(so_far if rule.running_best else metrics["val_loss"], epoch)
            if policy.decide(epoch, metrics, trial.should_prune).prune:
                stopped = epoch
                break
        if policy.onset is not None:
            onsets.append(policy.onset)
        if stopped is None:
            study.tell(trial, min(m["val_loss"] for m in curve))
            outcomes.append(Outcome(len(curve), answer(curve)))
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            outcomes.append(Outcome(stopped, None))
    return outcomes


def oracle(curves: list[Curve], grace: int) -> list[Outcome]:
    """The least any rule that waits for the grace point can spend: every trial but the
    study's best stopped at the grace point. With trials of 30 epochs and the grace point at
    20 a pruned trial still costs two thirds of a full one."""
    answers = [answer(c) for c in curves]
    best = min((v for v in answers if v is not None), default=None)
    return [
        Outcome(len(c), v) if v is not None and v == best else Outcome(min(grace, len(c)), None)
        for c, v in zip(curves, answers, strict=True)
    ]


def study_curves(storage: str, name: str) -> list[Curve]:
    """The study's finished trials, in order, each as its epochs' metrics."""
    study = optuna.load_study(study_name=name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    retried = retried_numbers(trials)
    curves = []
    for t in trials:
        if t.state.name != "COMPLETE" or not counts_toward_budget(t, retried):
            continue
        metrics = Path(t.user_attrs["run_dir"]) / "metrics.jsonl"
        curve = [
            event
            for event in map(json.loads, metrics.read_text(encoding="utf-8").splitlines())
            if event.get("event") == "epoch_ended"
        ]
        curves.append(sorted(curve, key=lambda e: e["epoch"]))
    return curves


def epochs_to_best(outcomes: list[Outcome], best: float) -> int | None:
    spent = 0
    for o in outcomes:
        spent += o.epochs
        if o.value is not None and o.value <= best + 1e-9:
            return spent
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work", type=Path, help="the benchmark's --work folder")
    parser.add_argument("--studies", help="comma-separated (default: every tpe-* and random-*)")
    parser.add_argument("--grace", type=int, default=20, help="the benchmark's grace point")
    args = parser.parse_args()
    storage = f"sqlite:///{(args.work / 'bench.db').resolve()}"
    names = (
        args.studies.split(",")
        if args.studies
        else sorted(
            s.study_name
            for s in optuna.get_all_study_summaries(storage)
            if s.study_name.split("-")[0] in ("tpe", "random")
        )
    )
    studies = {name: study_curves(storage, name) for name in names}
    studies = {name: curves for name, curves in studies.items() if curves}
    trials = sum(len(c) for c in studies.values())
    full = sum(len(curve) for curves in studies.values() for curve in curves)
    table = Table(
        title=f"pruning rules replayed on {trials} fully trained trials of {len(studies)} "
        f"studies ({', '.join(studies)}); grace point {args.grace}"
    )
    for column in (
        "rule",
        "trial-epochs",
        "pruned",
        "best kept",
        "mean gap to best",
        "epochs to best",
    ):
        table.add_column(column)
    for rule in rules(args.grace):
        spent = pruned = kept = 0
        gaps: list[float] = []
        to_best, to_best_full, reached = 0, 0, 0
        for curves in studies.values():
            outcomes = replay(curves, rule, args.grace)
            best = min((v for v in map(answer, curves) if v is not None), default=math.inf)
            spent += sum(o.epochs for o in outcomes)
            pruned += sum(o.epochs < len(c) for o, c in zip(outcomes, curves, strict=True))
            finished = [o.value for o in outcomes if o.value is not None]
            best_kept = min(finished, default=math.inf)
            kept += best_kept <= best + 1e-9
            gaps.append(best_kept - best)
            reach = epochs_to_best(outcomes, best)
            full_reach = epochs_to_best(replay(curves, rules(args.grace)[0], args.grace), best)
            if reach is not None and full_reach is not None:
                to_best += reach
                to_best_full += full_reach
                reached += 1
        finite = [g for g in gaps if math.isfinite(g)]
        table.add_row(
            rule.name,
            f"{spent} ({spent / full:.0%})",
            str(pruned),
            f"{kept}/{len(studies)}",
            f"{sum(finite) / len(finite):.4f}" if finite else "-",
            f"{to_best}/{to_best_full} ({to_best / to_best_full:.0%}) in {reached}"
            if to_best_full
            else "-",
        )
    Console(width=max(120, Console().width)).print(table)


if __name__ == "__main__":
    main()
