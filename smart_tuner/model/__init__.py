"""Tacotron2 model, loss, warm start and a Griffin-Lim vocoder."""

from smart_tuner.model.layers import (
    Attention,
    ConvNorm,
    LinearNorm,
    LocationLayer,
    Postnet,
    Prenet,
)
from smart_tuner.model.loss import Tacotron2Loss, guided_attention_mask, guided_attention_weight
from smart_tuner.model.tacotron2 import (
    Decoder,
    Encoder,
    InferenceOutput,
    Tacotron2,
    Tacotron2Output,
)
from smart_tuner.model.vocoder import GriffinLim, Vocoder
from smart_tuner.model.warm_start import (
    WarmStartReport,
    extract_state_dict,
    load_checkpoint_state,
    warm_start,
)
from smart_tuner.runtime.melbank import mel_filterbank

__all__ = [
    "Attention",
    "ConvNorm",
    "Decoder",
    "Encoder",
    "GriffinLim",
    "InferenceOutput",
    "LinearNorm",
    "LocationLayer",
    "Postnet",
    "Prenet",
    "Tacotron2",
    "Tacotron2Loss",
    "Tacotron2Output",
    "Vocoder",
    "WarmStartReport",
    "extract_state_dict",
    "guided_attention_mask",
    "guided_attention_weight",
    "load_checkpoint_state",
    "mel_filterbank",
    "warm_start",
]
