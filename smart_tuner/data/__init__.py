"""Data pipeline: corpus discovery, text front-end, mel features and batching."""

from smart_tuner.data.audio import AUDIO_EXTENSIONS, AudioError, AudioInfo, audio_info, load_audio
from smart_tuner.data.batching import (
    Batch,
    BucketBatchSampler,
    Collate,
    TTSDataset,
    collate,
    padding_ratio,
)
from smart_tuner.data.corpus import (
    Corpus,
    CorpusError,
    SkippedItem,
    Utterance,
    load_corpus,
    split_train_val,
)
from smart_tuner.data.features import MelCache, MelSpectrogram, default_cache_dir
from smart_tuner.data.text import (
    SymbolTable,
    TextFrontend,
    detect_language,
    is_allowed_char,
    normalize_text,
    spell_numbers,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioError",
    "AudioInfo",
    "Batch",
    "BucketBatchSampler",
    "Collate",
    "Corpus",
    "CorpusError",
    "MelCache",
    "MelSpectrogram",
    "SkippedItem",
    "SymbolTable",
    "TTSDataset",
    "TextFrontend",
    "Utterance",
    "audio_info",
    "collate",
    "default_cache_dir",
    "detect_language",
    "is_allowed_char",
    "load_audio",
    "load_corpus",
    "normalize_text",
    "padding_ratio",
    "spell_numbers",
    "split_train_val",
]
