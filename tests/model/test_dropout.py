"""The byte-mask dropout: same statistics and gradient as inverted dropout, seedable."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_tuner.model.layers import dropout


@settings(max_examples=25, deadline=None)
@given(p=st.floats(0.05, 0.9), dtype=st.sampled_from([torch.float32, torch.bfloat16]))
def test_drop_rate_and_expectation_match_p(p: float, dtype: torch.dtype) -> None:
    x = torch.ones(64, 1000, dtype=dtype)
    out = dropout(x, p).float()
    kept = (out != 0).float().mean().item()
    p_eff = round(p * 256) / 256
    assert kept == pytest.approx(1 - p_eff, abs=0.01)
    assert out.mean().item() == pytest.approx(1.0, abs=0.03)
    values = out.unique().tolist()
    assert values[0] == 0.0 and values[-1] == pytest.approx(1 / (1 - p_eff), rel=0.01)
    assert len(values) == 2


def test_gradient_is_the_mask_times_the_scale() -> None:
    x = torch.randn(8, 300, requires_grad=True)
    out = dropout(x, 0.5)
    out.sum().backward()
    assert torch.equal(x.grad, (out.detach() != 0).float() * 2.0)


def test_seeded_and_off_outside_training() -> None:
    x = torch.randn(4, 33)
    torch.manual_seed(3)
    a = dropout(x, 0.3)
    torch.manual_seed(3)
    assert torch.equal(a, dropout(x, 0.3))
    assert dropout(x, 0.3, training=False) is x
    assert dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 0.999), torch.zeros_like(x))
