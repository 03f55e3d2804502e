"""Hyperparameter search on Optuna (`smart-tuner optimize`).

| module | concept |
|---|---|
| space | `hyperparameter_search_space` -> Optuna suggestions -> a trial's training config |
| pruning | the TTS pruning policy (plain Python): divergence, alignment grace point, loss rule |
| objective | one trial: a short training run in a child process, scored by validation loss |
| trial_process | the child process: `train(..., listeners=[reporter])` |
| resume | a re-queued trial continues its predecessor's run from the last checkpoint |
| budget | how many trials a study still owes (retries and surplus trials do not count) |
| storage | SQLite (WAL, busy timeout) or any SQLAlchemy URL, with heartbeats |
| study | the spec every worker rebuilds the study from; sampler and loss pruner |
| worker | worker processes sharing one study, locally and across machines |
| warm_start | best parameters of earlier studies on similar datasets, enqueued first |
| selection | the best trial: the lowest value among trials whose attention formed |
| table / output | the live table; best config, importances, plots, MLflow |
| command | the `optimize` command |
"""
