"""Location-sensitive attention: the fused training step is the layer-by-layer maths."""

import pytest
import torch
import torch.nn.functional as F

from smart_tuner.model.layers import Attention


def reference(att: Attention, query, memory, processed_memory, weights_cat, mask):
    """NVIDIA's formulation, module by module, in plain autograd ops."""
    location = att.location_layer.location_dense(
        att.location_layer.location_conv(weights_cat).transpose(1, 2)
    )
    energies = att.v(
        torch.tanh(att.query_layer(query).unsqueeze(1) + location + processed_memory)
    ).squeeze(-1)
    weights = F.softmax(energies.masked_fill(mask, float("-inf")), dim=1)
    return torch.bmm(weights.unsqueeze(1), memory).squeeze(1), weights


@pytest.mark.parametrize("kernel", [31, 3])
def test_fused_step_matches_the_reference_in_values_and_every_gradient(kernel):
    torch.manual_seed(3)
    att = Attention(12, 6, 8, 4, kernel).double()
    mask = torch.zeros(3, 20, dtype=torch.bool)
    mask[0, 13:] = True
    previous = torch.softmax(torch.randn(3, 20, dtype=torch.double) * 2, 1).masked_fill(mask, 0)
    inputs = {
        "query": torch.randn(3, 12, dtype=torch.double),
        "memory": torch.randn(3, 20, 6, dtype=torch.double),
        "processed_memory": torch.randn(3, 20, 8, dtype=torch.double),
        "weights_cat": torch.stack((previous, previous * 3), 1),
    }
    d_context, d_weights = torch.randn(3, 6).double(), torch.randn(3, 20).double()

    def run(fn):
        att.zero_grad()
        x = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
        context, weights = fn(
            x["query"], x["memory"], x["processed_memory"], x["weights_cat"], mask
        )
        ((context * d_context).sum() + (weights * d_weights).sum()).backward()
        grads = {k: v.grad for k, v in x.items()}
        grads.update({n: p.grad.clone() for n, p in att.named_parameters() if p.grad is not None})
        return context.detach(), weights.detach(), grads

    ours = run(att)
    theirs = run(lambda *a: reference(att, *a))
    torch.testing.assert_close(ours[0], theirs[0])
    torch.testing.assert_close(ours[1], theirs[1])
    assert ours[2].keys() == theirs[2].keys()
    assert {
        "query_layer.linear_layer.weight",
        "location_layer.location_conv.conv.weight",
        "location_layer.location_dense.linear_layer.weight",
        "v.linear_layer.weight",
    } <= ours[2].keys()
    for name in theirs[2]:
        torch.testing.assert_close(ours[2][name], theirs[2][name], msg=name)
    assert float(ours[1][0, 13:].abs().sum()) == 0.0  # padding gets no attention
    assert float(ours[2]["weights_cat"].abs().sum()) > 0  # the alignment's gradient flows


def test_under_autocast_it_runs_in_float32_and_matches():
    torch.manual_seed(4)
    att = Attention(12, 6, 8, 4, 5)
    args = (
        torch.randn(2, 12),
        torch.randn(2, 9, 6),
        torch.randn(2, 9, 8),
        torch.softmax(torch.randn(2, 2, 9), -1),
        torch.zeros(2, 9, dtype=torch.bool),
    )
    plain = att(*args)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = att(args[0].bfloat16(), args[1].bfloat16(), *args[2:])
    assert mixed[0].dtype == torch.float32
    torch.testing.assert_close(mixed[1], plain[1], atol=2e-2, rtol=0)


def test_an_even_location_kernel_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="attention_location_kernel_size must be odd"):
        Attention(12, 6, 8, 4, 30)
