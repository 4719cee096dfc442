# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""CPU model and the instruction-set flags that decide the fastest correct precision.

bf16 autocast pays off only where the CPU computes bf16 natively (AMX tiles or AVX512_BF16);
elsewhere oneDNN emulates it and fp32 is faster, so `auto` means bf16 there and fp32 here.
"""

import pathlib
import platform
from dataclasses import dataclass
from typing import FrozenSet

_FLAGS_OF_INTEREST = ('amx_bf16', 'amx_tile', 'avx512_bf16', 'avx512_vnni', 'avx512f', 'avx2')


@dataclass(frozen=True)
class CpuInfo:
    """What /proc/cpuinfo says about this machine (empty flags where it cannot be read)."""

    model: str
    flags: FrozenSet[str]

    @property
    def native_bf16(self) -> bool:
        """True where bf16 matrix maths runs in hardware (AMX or AVX512_BF16)."""
        return bool({'amx_bf16', 'avx512_bf16'} & self.flags)

    def summary(self) -> dict:
        """Model and the flags that matter here, for provenance and benchmarks."""
        return dict(model=self.model, native_bf16=self.native_bf16,
                    flags=sorted(f for f in _FLAGS_OF_INTEREST if f in self.flags))


def parse_cpuinfo(text: str) -> CpuInfo:
    """Parse the first processor block of /proc/cpuinfo text."""
    model: str = platform.processor() or platform.machine()
    flags: FrozenSet[str] = frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(':')
        key = key.strip()
        if key == 'model name' and model in ('', platform.machine(), platform.processor()):
            model = value.strip()
        elif key in ('flags', 'Features') and not flags:
            flags = frozenset(value.split())
    return CpuInfo(model=model, flags=flags)


def cpu_info(path: str = '/proc/cpuinfo') -> CpuInfo:
    """Read this machine's CpuInfo (no flags on systems without /proc/cpuinfo)."""
    try:
        return parse_cpuinfo(pathlib.Path(path).read_text())
    except OSError:
        return CpuInfo(model=platform.processor() or platform.machine(), flags=frozenset())


def auto_cpu_precision(info: CpuInfo) -> str:
    """'bf16' on CPUs with native bf16, else 'fp32'."""
    return 'bf16' if info.native_bf16 else 'fp32'
