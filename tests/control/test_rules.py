"""Rules as policy objects: replaceable, each with its own JSON state; the brain is torch-free."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from smart_tuner.config import Config, load_config
from smart_tuner.control import Action, TrainingController
from smart_tuner.control.controller import OLD_FORMAT, OLD_RULE_FIELDS
from smart_tuner.control.rules import Explosion

from .synth import Curve, plan_for, simulate


def exploding_run(controller: TrainingController | None = None, config: Config | None = None):
    curve = Curve(plan=120, explode_at=60, seed=3)
    return simulate(
        config or Config(), plan_for(120), lambda e, c, d: curve.record(e), controller=controller
    )


def test_a_replaced_rule_takes_the_place_of_the_default_one():
    run = exploding_run()
    cuts = [d for _, d in run.actions(Action.SET_LR) if d.params["cause"] == "gradient_explosion"]
    assert cuts  # the default rule answers the explosion

    class Ignore(Explosion):
        def decide(self, epoch, now, view, levers) -> bool:
            return False

    quiet = TrainingController(Config(), plan_for(120), rules=[Ignore(Config())])
    assert list(quiet.rules) == list(run.controller.rules)  # same place in the priority order
    replaced = exploding_run(controller=quiet)
    assert not [d for _, d in replaced.actions(Action.SET_LR) if "explosion" in d.reason]


def test_every_rule_keeps_its_own_state_as_json():
    config = load_config(None, {"training.attention_entropy_weight": 0.1})
    run = exploding_run(config=config)
    data = json.loads(json.dumps(run.controller.state_dict(), allow_nan=False))
    assert set(data["rules"]) == set(run.controller.rules)
    assert data["rules"]["sharpening"]["tries"] >= 1
    shared = set(data["state"])
    for name, fields in data["rules"].items():
        assert not shared & set(fields), name  # a rule's memory is its own


def test_a_flat_state_of_the_previous_format_resumes_identically():
    config = load_config(None, {"training.attention_entropy_weight": 0.1})
    straight = exploding_run(config=config)
    first = TrainingController(config, plan_for(120))
    for rec in straight.records[:70]:
        first.observe(dict(rec), rec["elapsed_seconds"])
    new = first.state_dict()
    flat = dict(new["state"])
    for name, renames in OLD_RULE_FIELDS.items():
        for old, field in renames.items():
            flat[old] = new["rules"][name][field]
    resumed = TrainingController(config, plan_for(5))
    resumed.load_state_dict({"format": OLD_FORMAT, "plan": new["plan"], "state": flat})
    tail = []
    for rec in straight.records[70:]:
        tail += [(rec["epoch"], d) for d in resumed.observe(dict(rec), rec["elapsed_seconds"])]
    expected = [(e, d) for e, d in straight.decisions if e > 70]
    assert [(e, d) for e, d in tail if d.action is not Action.CONTINUE] == expected


def test_the_brain_imports_no_torch():
    code = (
        "import sys\n"
        "import smart_tuner.control, smart_tuner.control.replay, smart_tuner.recommend\n"
        "import smart_tuner.events, smart_tuner.history_learning\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_a_rule_switched_off_in_the_config_takes_no_decision():
    config = load_config(None, {"control.disabled_rules": ["explosion"]})
    run = exploding_run(config=config)
    assert "explosion" not in run.controller.rules
    assert not [d for _, d in run.actions(Action.SET_LR) if "explosion" in d.reason]
    try:
        TrainingController(load_config(None, {"control.disabled_rules": ["nope"]}), plan_for(9))
    except ValueError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("an unknown rule name must be refused")


def test_the_guided_attention_weight_is_the_configured_one_until_a_restart_strengthens_it():
    config = load_config(
        None,
        {
            "training.guided_attention.weight": 30.0,  # above the search space's 20
            "hyperparameter_search_space.guided_attention_weight": None,
        },
    )
    controller = TrainingController(config, plan_for(100))
    assert controller.guided_attention_weight() == 30.0
    decay = config.training.guided_attention.decay
    assert controller.guided_attention_weight(10) == pytest.approx(30.0 * decay**10)
    capped = load_config(None, {"training.guided_attention.weight": 15.0})
    strengthened = TrainingController(capped, plan_for(100))
    strengthened.shared_state.restarts = 1
    strengthened.shared_state.guided_attention_factor = 2.0
    strengthened.shared_state.guided_attention_start_step = 50
    assert strengthened.guided_attention_weight() == 20.0  # the search space's maximum
    assert strengthened.guided_attention_weight(50) == 20.0  # its decay starts at the restart
