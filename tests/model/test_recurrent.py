"""LSTMRun is nn.LSTMCell's maths with batched weight gradients: outputs and gradients match."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_tuner.model.recurrent import LSTMRun


def run_reference(cell, static, dynamic):
    h = c = torch.zeros(dynamic.size(1), cell.hidden_size)
    outputs = []
    for t in range(dynamic.size(0)):
        x = dynamic[t] if static is None else torch.cat((static[t], dynamic[t]), -1)
        h, c = cell(x, (h, c))
        outputs.append(h + c)
    return torch.stack(outputs)


def run_ours(cell, static, dynamic, split=False):
    """``split``: hand each step's input over in two pieces, as the decoder does."""
    run = LSTMRun(cell, static)
    h = c = torch.zeros(dynamic.size(1), cell.hidden_size)
    outputs = []
    for t in range(dynamic.size(0)):
        x = dynamic[t]
        h, c = run.step((x[:, :1], x[:, 1:]) if split else x, h, c)
        outputs.append(h + c)
    return torch.stack(outputs)


def outputs_and_grads(fn, cell, static, dynamic, weights, **kwargs):
    cell.zero_grad()
    dynamic = dynamic.clone().requires_grad_(True)
    out = fn(cell, static, dynamic, **kwargs)
    (out * weights).sum().backward()
    return out.detach(), [p.grad.clone() for p in cell.parameters()], dynamic.grad


@settings(max_examples=25, deadline=None)
@given(
    steps=st.integers(1, 7),
    batch=st.integers(1, 4),
    static_dim=st.integers(0, 5),
    dynamic_dim=st.integers(1, 5),
    hidden=st.integers(1, 6),
    bias=st.booleans(),
    split=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_outputs_and_every_gradient_match_lstm_cell(
    steps, batch, static_dim, dynamic_dim, hidden, bias, split, seed
):
    torch.manual_seed(seed)
    cell = torch.nn.LSTMCell(static_dim + dynamic_dim, hidden, bias=bias)
    static = torch.randn(steps, batch, static_dim) if static_dim else None
    dynamic = torch.randn(steps, batch, dynamic_dim)
    weights = torch.randn(steps, batch, hidden)
    ref = outputs_and_grads(run_reference, cell, static, dynamic, weights)
    ours = outputs_and_grads(run_ours, cell, static, dynamic, weights, split=split)
    torch.testing.assert_close(ours[0], ref[0], atol=1e-5, rtol=1e-4)
    for mine, theirs in zip(ours[1], ref[1], strict=True):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(ours[2], ref[2], atol=1e-5, rtol=1e-4)


def test_gradients_accumulate_across_backward_calls_like_autograd():
    torch.manual_seed(0)
    cell = torch.nn.LSTMCell(3, 4)
    dynamic = torch.randn(5, 2, 3)
    run_ours(cell, None, dynamic).sum().backward()
    once = [p.grad.clone() for p in cell.parameters()]
    run_ours(cell, None, dynamic).sum().backward()
    for twice, single in zip((p.grad for p in cell.parameters()), once, strict=True):
        torch.testing.assert_close(twice, 2 * single)


def test_without_autograd_it_still_steps():
    torch.manual_seed(0)
    cell = torch.nn.LSTMCell(3, 4)
    dynamic = torch.randn(6, 2, 3)
    with torch.no_grad():
        torch.testing.assert_close(
            run_ours(cell, None, dynamic), run_reference(cell, None, dynamic)
        )


def test_bf16_autocast_keeps_float32_state_and_close_gradients():
    torch.manual_seed(0)
    cell = torch.nn.LSTMCell(16 + 24, 32)
    static, dynamic = torch.randn(20, 8, 16), torch.randn(20, 8, 24)
    weights = torch.randn(20, 8, 32)
    ref = outputs_and_grads(run_reference, cell, static, dynamic, weights)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = outputs_and_grads(run_ours, cell, static, dynamic, weights)
    assert ours[0].dtype == torch.float32
    torch.testing.assert_close(ours[0], ref[0], atol=0.05, rtol=0.05)
    for mine, theirs in zip(ours[1], ref[1], strict=True):
        assert mine.dtype == torch.float32
        cosine = torch.nn.functional.cosine_similarity(mine.flatten(), theirs.flatten(), dim=0)
        assert cosine > 0.99
