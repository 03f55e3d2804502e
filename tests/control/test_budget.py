from smart_tuner.control import Action, BudgetController


def test_stops_when_planned_epochs_are_done():
    c = BudgetController(max_epochs=3)
    assert c.decide({"epoch": 2}, 0)[0].action is Action.CONTINUE
    d = c.decide({"epoch": 3}, 0)[0]
    assert d.action is Action.STOP and d.stop_reason == "epochs_completed"


def test_stops_before_an_epoch_that_would_overrun_the_budget():
    c = BudgetController(max_epochs=100, max_minutes=10)
    assert c.decide({"epoch": 5, "epoch_seconds": 60}, 500)[0].action is Action.CONTINUE
    d = c.decide({"epoch": 6, "epoch_seconds": 60}, 550)[0]
    assert d.stop_reason == "time_budget"
    assert "10 min" in d.reason
