"""Tiny Tacotron2 sizes so the model tests run in seconds on a CPU.

A uniquely named module, and no conftest.py in this folder: other test folders import their
helpers with ``from conftest import ...``, which a second conftest module would shadow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from smart_tuner.config import ModelConfig
from smart_tuner.model import Tacotron2

N_SYMBOLS = 12
N_MEL = 8


def tiny_config(**overrides: object) -> ModelConfig:
    sizes: dict[str, object] = {
        "symbols_embedding_dim": 16,
        "encoder_embedding_dim": 16,
        "encoder_kernel_size": 3,
        "attention_rnn_dim": 24,
        "attention_dim": 16,
        "attention_location_n_filters": 4,
        "attention_location_kernel_size": 5,
        "decoder_rnn_dim": 24,
        "prenet_dim": 16,
        "postnet_embedding_dim": 16,
        "postnet_kernel_size": 3,
        "max_decoder_steps": 20,
    }
    return ModelConfig(**{**sizes, **overrides})


def make_model(**overrides: object) -> Tacotron2:
    torch.manual_seed(0)
    return Tacotron2(tiny_config(**overrides), N_SYMBOLS, N_MEL)


@contextmanager
def one_thread() -> Iterator[None]:
    """Tiny ops run fastest on one thread; on a busy 2-core box two threads are ~10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
