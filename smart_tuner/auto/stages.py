"""The stages of `auto`, each a function of the shared context returning what it chose and why.

A stage that cannot run (no search asked for, a part not installed) returns a "skipped"
result with its reason; a Ctrl-C inside a stage propagates, so the stage is not recorded and a
re-run starts it again (a study and a training resume where they stopped).
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from smart_tuner.auto.budget import BudgetPlan, trial_epochs
from smart_tuner.auto.record import StageResult
from smart_tuner.config import Config, config_from_dict
from smart_tuner.events import StopReason
from smart_tuner.exit_codes import ExitCode

MAX_RESTARTS = 3  # S6: the controller may restart a failing training this often
EVALUATED_SENTENCES = 8


@dataclass
class AutoContext:
    dataset: Path
    out: Path
    config: Config
    console: Console
    trials: int
    storage: str | None
    budget: BudgetPlan
    spent_seconds: float = 0.0  # by the stages finished so far, in this run or earlier ones

    @property
    def run_dir(self) -> Path:
        """The final training's run folder (its report is the pipeline's report)."""
        return self.out / "train"


def with_values(config: Config, values: dict[str, Any]) -> Config:
    """`config` with dotted keys set ('training.epochs': 40), validated again."""
    raw = config.model_dump(mode="json")
    for dotted, value in values.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return config_from_dict(raw, "auto")


# ---------------------------------------------------------------- analyse


def analyse(ctx: AutoContext) -> StageResult:
    from smart_tuner.analysis.report import format_summary
    from smart_tuner.pipeline import recommend_for
    from smart_tuner.report import save_analysis

    rec = recommend_for(ctx.dataset, ctx.config, ctx.console)
    ctx.console.print(format_summary(rec.profile, rec.plan))
    save_analysis(ctx.run_dir, rec, ctx.config)
    profile, plan = rec.profile, rec.plan
    epochs, why = int(plan.epochs), " ".join([plan.headline, *plan.rationale])
    if ctx.config.training.epochs is not None:
        epochs, why = ctx.config.training.epochs, "epochs set by hand in the config (S7)"
    chose = {
        "epochs": epochs,
        "recommended_epochs": int(plan.epochs),
        "confidence": plan.confidence,
        "size": profile.size_class,
        "quality": profile.quality_class,
        "complexity": profile.complexity_level,
        "run_params": rec.run_params,
    }
    return StageResult("done", chose, why)


# ---------------------------------------------------------------- search


def _study_name(out: Path) -> str:
    """Stable for one DIR (a re-run joins the same study), distinct between DIRs."""
    digest = hashlib.sha1(str(out.resolve()).encode()).hexdigest()[:8]
    return f"auto-{out.resolve().name}-{digest}"


def search(ctx: AutoContext, epochs: int) -> StageResult:
    if ctx.trials <= 0:
        return StageResult("skipped", why="no search asked for (--trials 0)")
    try:
        from smart_tuner.search.command import run_search
    except ImportError as exc:
        return StageResult("skipped", why=f"the hyperparameter search is not available ({exc})")

    per_trial = trial_epochs(epochs, ctx.config.search.trial_epochs)
    config = with_values(
        ctx.config,
        {"search.trial_epochs": per_trial, "search.trial_max_minutes": ctx.budget.trial_minutes},
    )
    folder = ctx.out / "search"
    result = run_search(
        ctx.dataset,
        config,
        folder,
        n_trials=ctx.trials,
        storage=ctx.storage or str(folder / "study.db"),
        study_name=_study_name(ctx.out),
        console=ctx.console,
    )
    if result.exit_code == ExitCode.INTERRUPTED:
        raise KeyboardInterrupt
    if (folder / "study.json").is_file():  # the run's report shows the study
        ctx.run_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / "study.json", ctx.run_dir / "study.json")
    best = result.output
    note = f"{ctx.trials} trials of at most {per_trial} epochs each (the full run: {epochs})"
    if best.best_trial is None:
        return StageResult("skipped", why=f"no trial finished ({note}); the config as is")
    chose = {"params": dict(best.best_params), "best_value": best.best_value}
    chose["trial"] = best.best_trial
    why = f"trial {best.best_trial} reached the lowest validation loss ({best.best_value:.4g})"
    why += " of the trials whose attention formed; " if best.passed_over else "; "
    return StageResult("done", chose, why + note)


def searched_config(config: Config, params: dict[str, Any]) -> Config:
    if not params:
        return config
    from smart_tuner.search.space import SearchSpace

    return SearchSpace.from_config(config).apply(config, params)


# ---------------------------------------------------------------- train, evaluate, report


def train_full(
    ctx: AutoContext, epochs: int, params: dict[str, Any], run_params: dict[str, Any]
) -> StageResult:
    from smart_tuner.train.loop import train

    minutes = ctx.budget.training_minutes(ctx.spent_seconds / 60.0)
    config = with_values(
        searched_config(ctx.config, params),
        {
            "training.epochs": epochs,
            "training.max_minutes": minutes,
            "training_recovery.max_restarts": MAX_RESTARTS,
        },
    )
    resume = (ctx.run_dir / "checkpoints" / "last.pt").exists()
    if resume:
        ctx.console.print(f"Resuming the training in {ctx.run_dir}.")
    summary = train(
        config,
        ctx.dataset,
        ctx.run_dir,
        resume=resume,
        console=ctx.console,
        track=True,
        run_params=run_params,
    )
    if summary["stop_reason"] == StopReason.INTERRUPTED:
        raise KeyboardInterrupt
    restarts = (summary.get("controller") or {}).get("restarts", 0)
    chose = {
        "epochs_planned": epochs,
        "max_minutes": minutes,
        "params": params,
        "epochs_run": summary["epochs_run"],
        "best_epoch": summary["best_epoch"],
        "best_val_loss": summary["best_val_loss"],
        "attention_score": summary.get("attention_score"),
        "stop_reason": summary["stop_reason"],
        "restarts": restarts,
        "checkpoint": summary["checkpoint"],
    }
    why = (
        f"the controller stopped it: {summary['stop_reason']} after {summary['epochs_run']} "
        f"of {epochs} epochs ({restarts} restart{'s' * (restarts != 1)}); best epoch "
        f"{summary['best_epoch']}"
    )
    return StageResult("done", chose, why)


def evaluate(ctx: AutoContext) -> StageResult:
    try:
        from smart_tuner.evaluate.command import evaluate_run
    except ImportError as exc:
        return StageResult("skipped", why=f"the evaluation is not available ({exc})")
    result = evaluate_run(ctx.run_dir, str(ctx.dataset), ctx.console, n=EVALUATED_SENTENCES)
    metrics = {k: round(v, 4) for k, v in (result.get("metrics") or {}).items()}
    chose = {"metrics": metrics, "sentences": len(result.get("sentences") or [])}
    why = "held-out sentences of the run's validation split, spoken by its best checkpoint"
    return StageResult("done", chose, why)


def report(ctx: AutoContext) -> StageResult:
    from smart_tuner.report import write_report

    started = time.monotonic()
    path = write_report(ctx.run_dir, ctx.out / "report.html", console=ctx.console)
    chose = {"report": str(path), "seconds": round(time.monotonic() - started, 1)}
    return StageResult("done", chose, "the whole story of the run on one page")
