"""Mixed precision only where it pays: bf16 on the CPU needs native bf16 instructions."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from smart_tuner.runtime import device as device_module
from smart_tuner.runtime.device import amp_dtype, cpu_supports_bf16

CPU = torch.device("cpu")


def _cpu_flags() -> set[str] | None:
    """The CPU's flags as Linux lists them; None where there is no /proc/cpuinfo."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return None
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def test_bf16_is_chosen_on_this_cpu_exactly_when_its_flags_say_native_bf16():
    # oneDNN calls bf16 "supported" on any AVX512 CPU, where it is emulated and slower
    flags = _cpu_flags()
    native = cpu_supports_bf16()
    if flags is not None:  # Linux (CI): the kernel's own flags are the witness
        assert native is bool({"avx512_bf16", "amx_bf16", "amx_tile"} & flags)
    assert amp_dtype(CPU) == (torch.bfloat16 if native else None)


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "expected"),
    [(True, False, torch.bfloat16), (False, True, torch.bfloat16), (False, False, None)],
)
def test_amp_on_the_cpu_follows_the_native_bf16_probes(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert device_module.amp_dtype(CPU) == expected
    assert device_module.amp_dtype(CPU, enabled=False) is None
