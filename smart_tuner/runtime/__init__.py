"""The floor: runtime code every layer above shares, importing nothing of the project but
config.

checkpoint.py         crash-safe checkpoint files (weights_only loading)
device.py             where to run (CUDA, MPS, CPU), threads, mixed precision
alignment_metrics.py  attention_score, diagonality, gate_accuracy: defined once
melbank.py            the Slaney mel filterbank (features, vocoders and metrics share it)

Layers, lowest first: runtime -> data, model -> train, synthesize, analysis, evaluate ->
commands (cli). No module imports from a layer above its own.
"""
