"""Forward attention with a transition agent: monotonic, paced by the agent, and it trains."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_tuner.model import Tacotron2
from smart_tuner.model.forward_attention import ForwardAttention
from tests.model.test_dca import tiny_small_config


def run_steps(att: ForwardAttention, memory, mask, queries):
    weights = torch.zeros(memory.shape[:2])
    weights[:, 0] = 1.0
    history = []
    for query in queries:
        _, weights = att(query, memory, att.memory_layer(memory), weights.unsqueeze(1), mask)
        history.append(weights)
    return torch.stack(history, 1)  # [B, steps, T_in]


@torch.no_grad()
@settings(max_examples=25, deadline=None)
@given(
    scale=st.floats(0.1, 50.0),
    seed=st.integers(0, 10_000),
    length=st.integers(3, 25),
)
def test_attention_never_moves_back_nor_more_than_two_symbols_a_step(scale, seed, length):
    """Whatever the content energies say (even huge ones), mass only stays or moves on by at
    most two symbols per step, sums to one and never lands on padding."""
    torch.manual_seed(seed)
    att = ForwardAttention(attention_rnn_dim=8, embedding_dim=6, attention_dim=4)
    att.v.weight.mul_(scale)
    t_in = 25
    memory = torch.randn(2, t_in, 6)
    mask = torch.zeros(2, t_in, dtype=torch.bool)
    mask[1, length:] = True
    history = run_steps(att, memory, mask, torch.randn(12, 2, 8) * scale)
    assert torch.allclose(history.sum(-1), torch.ones(2, 12), atol=1e-5)
    assert float(history[1, :, length:].sum()) == 0.0
    position = torch.arange(t_in)
    previous = torch.zeros(2, t_in)
    previous[:, 0] = 1.0
    for step in range(12):
        now = history[:, step]
        first = [int((p > 0).nonzero()[0]) for p in previous]
        last = [int((p > 0).nonzero()[-1]) for p in previous]
        for b in range(2):
            assert float(now[b, : first[b]].sum()) == 0.0  # nothing moves back
            assert float(now[b, position > last[b] + 2].sum()) == 0.0  # at most two ahead
        previous = now


@torch.no_grad()
def test_the_transition_agent_sets_the_pace_where_content_is_silent():
    att = ForwardAttention(attention_rnn_dim=8, embedding_dim=6, attention_dim=4)
    att.v.weight.zero_()  # no content preference: the agent alone decides
    att.transition.weight.zero_()
    memory = torch.randn(1, 20, 6)
    queries = torch.zeros(6, 1, 8)
    att.transition.bias.copy_(torch.tensor([-30.0, 30.0, -30.0]))  # always move one
    assert run_steps(att, memory, None, queries)[0].argmax(-1).tolist() == [1, 2, 3, 4, 5, 6]
    att.transition.bias.copy_(torch.tensor([30.0, -30.0, -30.0]))  # always stay
    assert run_steps(att, memory, None, queries)[0].argmax(-1).tolist() == [0] * 6
    # The initial pace is the configured prior's: 0.6 symbols a step for (0.3, 0.7).
    att.reset_parameters()
    att.transition.weight.zero_()
    att.v.weight.zero_()
    mean_move = float((att.initial_moves * torch.arange(3.0)).sum())
    history = run_steps(att, memory, None, torch.zeros(10, 1, 8))
    expected_position = 10 * mean_move
    position = float((history[0, -1] * torch.arange(20.0)).sum())
    assert abs(position - expected_position) < 1e-3


def test_the_pace_learns_from_the_loss():
    """The agent's weights get a gradient through a sharp alignment's neighbours."""
    torch.manual_seed(0)
    att = ForwardAttention(attention_rnn_dim=8, embedding_dim=6, attention_dim=4)
    memory = torch.randn(2, 10, 6)
    history = run_steps(att, memory, None, torch.randn(5, 2, 8))
    (history * torch.arange(10.0)).sum().backward()  # d(position)/d(pace)
    grad = att.transition.bias.grad
    assert grad is not None and float(grad[0]) < 0 < float(grad[2])  # staying: behind


def test_tacotron2_with_forward_attention_trains_and_speaks():
    cfg = tiny_small_config(attention="forward")
    model = Tacotron2(cfg, 20, 10)
    text = torch.randint(1, 20, (2, 7))
    mels = torch.randn(2, 10, 12)
    out = model(text, torch.tensor([7, 5]), mels, torch.tensor([12, 9]))
    assert out.alignments.shape == (2, 4, 7)
    assert float(out.alignments[1, :, 5:].detach().sum()) == 0.0
    out.mel_outputs.sum().backward()
    layer = model.decoder.attention_layer
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())
    before = layer.v.weight.clone()
    assert model.reset_attention() and not torch.equal(before, layer.v.weight)
    model.eval()
    inf = model.inference(text[:1], max_decoder_steps=5)
    assert inf.alignments.shape[2] == 7
