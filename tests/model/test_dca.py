"""Dynamic convolution attention: a prior that moves forward, masking, and it trains."""

import pytest
import torch
import torch.nn.functional as F

from smart_tuner.config import load_config
from smart_tuner.model import Tacotron2
from smart_tuner.model.attention_ops import fast_tanh
from smart_tuner.model.dca import DynamicConvolutionAttention, beta_binomial_prior


def tiny_small_config(**model):
    """The `small` preset shrunk to test size, with DCA unless another attention is given."""
    sizes = {
        "attention": "dynamic_convolution",
        "symbols_embedding_dim": 16,
        "encoder_embedding_dim": 16,
        "attention_rnn_dim": 16,
        "decoder_rnn_dim": 16,
        "prenet_dim": 8,
        "postnet_embedding_dim": 8,
        **model,
    }
    return load_config(
        None, {"model.preset": "small", **{f"model.{k}": v for k, v in sizes.items()}}
    ).model


def test_prior_is_a_distribution_weighted_to_staying_or_moving_a_little():
    prior = beta_binomial_prior(11, 0.1, 0.9)
    assert abs(float(prior.sum()) - 1.0) < 1e-5
    assert prior[0] > prior[1] > prior[5] > 0  # mostly stay, sometimes step forward


@torch.no_grad()
def test_alignment_starts_on_first_symbol_and_only_moves_forward():
    torch.manual_seed(0)
    att = DynamicConvolutionAttention(attention_rnn_dim=16, attention_dim=8)
    t_in = 30
    memory = torch.randn(2, t_in, 4)
    mask = torch.zeros(2, t_in, dtype=torch.bool)
    mask[1, 20:] = True
    weights = torch.zeros(2, t_in)
    weights[:, 0] = 1.0
    for _ in range(40):
        query = torch.randn(2, 16)
        previous = weights
        context, weights = att(query, memory, memory, torch.stack([previous] * 2, 1), mask)
        assert context.shape == (2, 4)
        assert torch.allclose(weights.sum(1), torch.ones(2), atol=1e-5)
        assert float(weights[1, 20:].sum()) == 0.0
        # The causal prior gives (almost) nothing to symbols behind the previous support.
        first = int((previous[0] > 1e-6).nonzero()[0])
        assert float(weights[0, :first].sum()) < 1e-3
    assert float((weights[0] * torch.arange(t_in)).sum()) > 5.0  # it has moved forward


def test_tacotron2_with_dca_runs_and_reset_attention_works():
    cfg = tiny_small_config(attention="dynamic_convolution")
    model = Tacotron2(cfg, 20, 10)
    text = torch.randint(1, 20, (2, 7))
    mels = torch.randn(2, 10, 12)
    out = model(text, torch.tensor([7, 5]), mels, torch.tensor([12, 9]))
    assert out.alignments.shape == (2, 4, 7)
    assert float(out.alignments[1, :, 5:].detach().sum()) == 0.0
    out.mel_outputs.sum().backward()
    before = model.decoder.attention_layer.v.weight.clone()
    names = model.reset_attention()
    assert names and not torch.equal(before, model.decoder.attention_layer.v.weight)
    inf = model.inference(text[:1], max_decoder_steps=5)
    assert inf.alignments.shape[2] == 7


def test_inference_ends_when_attention_rests_on_the_last_symbol():
    cfg = tiny_small_config()
    model = Tacotron2(cfg, 20, 10)
    model.decoder.gate_layer.linear_layer.bias.data.fill_(-100.0)  # the gate never fires
    layer = model.decoder.attention_layer

    def at_the_end(query, memory, processed_memory, weights_cat, mask):
        weights = torch.zeros(memory.shape[:2])
        weights[:, -1] = 1.0
        return memory[:, -1], weights

    layer.forward = at_the_end
    out = model.inference(torch.randint(1, 20, (1, 7)), max_decoder_steps=200)
    assert out.reached_stop and out.stop_cause == "attention_end"
    assert out.alignments.shape[1] == 1  # only the first step at the end is kept

    layer.forward = lambda q, m, p, w, mask: (m[:, 0], torch.eye(m.shape[1])[:1])
    out = model.inference(torch.randint(1, 20, (1, 7)), max_decoder_steps=30)
    assert not out.reached_stop and out.stop_cause == "max_steps"
    assert out.alignments.shape[1] == 30


def reference_features(att: DynamicConvolutionAttention, query, previous, prior_len):
    """The paper's formulation, filter by filter: static conv, dynamic per-utterance filters,
    each projected; the prior as a causal convolution."""
    prev = previous[:, None]
    static = att.static_proj(att.static_conv(prev).transpose(1, 2))
    filters = att.dynamic_filter_layer(torch.tanh(att.dynamic_hidden(query)))
    filters = filters.view(len(query), att.dynamic_filters, att.dynamic_kernel_size)
    half = att.dynamic_kernel_size // 2
    windows = F.pad(prev, (half, half)).unfold(2, att.dynamic_kernel_size, 1).squeeze(1)
    dynamic = att.dynamic_proj(torch.einsum("btk,bfk->btf", windows, filters))
    # p_j = sum_m prior[m] a_{j-m}; conv1d correlates, hence the flip
    prior_filter = beta_binomial_prior(prior_len, 0.1, 0.9).flip(0).view(1, 1, -1).to(prev)
    prior = F.conv1d(F.pad(prev, (prior_len - 1, 0)), prior_filter).squeeze(1)
    return static + dynamic, prior


@pytest.mark.parametrize(
    ("static_k", "dynamic_k", "prior_len"), [(21, 21, 11), (21, 21, 3), (7, 15, 11), (5, 3, 2)]
)
def test_folded_filters_equal_the_filter_by_filter_formulation(static_k, dynamic_k, prior_len):
    torch.manual_seed(1)
    att = DynamicConvolutionAttention(
        16, 8, static_kernel_size=static_k, dynamic_kernel_size=dynamic_k, prior_length=prior_len
    )
    previous = torch.softmax(torch.randn(3, 25) * 3, dim=1)
    query = torch.randn(3, 16)
    features, prior = reference_features(att, query, previous, prior_len)
    half = att.window // 2
    windows = F.pad(previous, (half, half)).unfold(1, att.window, 1)
    out = torch.bmm(windows, att._window_weights(query, 3))
    assert torch.allclose(out[..., :-1] + att.dynamic_proj.bias, features, atol=1e-5)
    assert torch.allclose(out[..., -1], prior, atol=1e-6)


def reference_attention(att, query, previous, memory, mask, prior_len):
    """DCA from the paper's formulation with plain autograd ops: (context, weights)."""
    features, prior = reference_features(att, query, previous, prior_len)
    energies = att.v(torch.tanh(features)).squeeze(-1) + torch.log(prior.clamp(min=1e-6))
    weights = F.softmax(energies.masked_fill(mask, float("-inf")), dim=1)
    return torch.bmm(weights.unsqueeze(1), memory).squeeze(1), weights


@pytest.mark.parametrize(("dynamic_k", "prior_len"), [(21, 11), (7, 3)])
def test_fused_step_matches_the_reference_in_values_and_every_gradient(dynamic_k, prior_len):
    """The training step runs DCA as one node with a hand-written backward: it must give the
    reference's outputs and the gradients of the query, the previous alignment, the memory
    and every parameter."""
    torch.manual_seed(2)
    att = DynamicConvolutionAttention(
        16, 8, dynamic_kernel_size=dynamic_k, prior_length=prior_len
    ).double()
    mask = torch.zeros(3, 25, dtype=torch.bool)
    mask[2, 18:] = True
    previous = torch.softmax(torch.randn(3, 25, dtype=torch.double) * 3, dim=1)
    inputs = {
        "query": torch.randn(3, 16, dtype=torch.double),
        "previous": previous.masked_fill(mask, 0.0),
        "memory": torch.randn(3, 25, 6, dtype=torch.double),
    }
    d_context, d_weights = torch.randn(3, 6).double(), torch.randn(3, 25).double()

    def run(fn):
        att.zero_grad()
        leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
        context, weights = fn(leaves)
        ((context * d_context).sum() + (weights * d_weights).sum()).backward()
        grads = {k: v.grad for k, v in leaves.items()}
        grads.update({n: p.grad.clone() for n, p in att.named_parameters()})
        return context.detach(), weights.detach(), grads

    def fused(x):
        weights_cat = torch.stack((x["previous"], x["previous"]), 1)
        return att(x["query"], x["memory"], x["memory"], weights_cat, mask)

    def reference(x):
        return reference_attention(att, x["query"], x["previous"], x["memory"], mask, prior_len)

    ours, theirs = run(fused), run(reference)
    torch.testing.assert_close(ours[0], theirs[0])
    torch.testing.assert_close(ours[1], theirs[1])
    assert ours[2].keys() == theirs[2].keys()
    for name in theirs[2]:
        torch.testing.assert_close(ours[2][name], theirs[2][name], msg=name)
    assert float(ours[2]["previous"].abs().sum()) > 0  # the alignment's gradient flows


def test_fast_tanh_is_tanh():
    x = torch.linspace(-30, 30, 100_001)
    torch.testing.assert_close(fast_tanh(x), torch.tanh(x), atol=3e-7, rtol=0)
