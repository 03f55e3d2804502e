"""What a file that failed to load as a checkpoint actually is, said plainly.

PyTorch's own error for a file it cannot read with `weights_only=True` advises re-running with
`weights_only=False`, which would let the file run arbitrary code: that advice must never
reach a user. Instead the first bytes are sniffed and the message says what the file is (empty,
truncated, text, a NumPy array, a plain pickle, a safetensors file, random bytes...) and what a
checkpoint for Smart Tuner is. Plain Python, no torch.
"""

from __future__ import annotations

import re
from pathlib import Path

EXPECTED = (
    "expected a PyTorch checkpoint saved by `smart-tuner train` (RUN_DIR/checkpoints/*.pt) or, "
    "for --warm-start, a Tacotron2 state_dict saved with torch.save"
)
_GLOBAL_RE = re.compile(r"GLOBAL ([A-Za-z_][\w.]*)")


def _head(path: Path, size: int = 64) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def file_kind(path: Path) -> str:
    """What the first bytes say the file is, as a phrase ('a text file', ...)."""
    head = _head(path)
    if not head:
        return "an empty file (0 bytes)"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy array file (.npy), not a PyTorch checkpoint"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (Keras/TensorFlow weights?), not a PyTorch checkpoint"
    if head.startswith((b"RIFF", b"fLaC", b"OggS", b"ID3")):
        return "an audio file, not a checkpoint"
    if len(head) > 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return "a safetensors file; Smart Tuner reads PyTorch .pt checkpoints"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle without tensors' zip container (a legacy or plain pickle)"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "not a PyTorch checkpoint: unrecognised binary content (random or foreign bytes)"
    return "a text file, not a PyTorch checkpoint"


def explain_load_failure(path: Path, exc: BaseException) -> str:
    """The message for a checkpoint `torch.load(weights_only=True)` refused or could not read.

    PyTorch's text is never passed on (it may advise `weights_only=False`); only the name of a
    refused Python class is taken from it.
    """
    path = Path(path)
    kind = file_kind(path)
    text = str(exc)
    if kind == "a zip archive":
        if "zip archive" in text or "central directory" in text or isinstance(exc, EOFError):
            return (
                f"{path} is a damaged or truncated checkpoint (its zip archive is incomplete: "
                "an interrupted copy or download?); copy it again, or use another checkpoint"
            )
        refused = _GLOBAL_RE.search(text)
        if refused:
            return (
                f"{path} holds Python objects besides tensors ({refused.group(1)}), which "
                "are refused: loading them could run arbitrary code. Use a checkpoint that "
                "holds only tensors and plain values (torch.save(model.state_dict(), path))"
            )
        return f"{path} is a zip archive but not a PyTorch checkpoint; {EXPECTED}"
    if kind.startswith("a Python pickle"):
        return (
            f"{path} is {kind}; it is refused because unpickling arbitrary objects could run "
            f"code; {EXPECTED}"
        )
    return f"{path} is {kind}; {EXPECTED}"
