"""`python -m smart_tuner.train.torchrun ARGS`: PyTorch's torchrun, with its ending told in one
line instead of its tracebacks (what `train --nproc N` starts).

Ctrl-C exits 130 (rank 0 has saved its checkpoint); a failed rank is named with its exit
code or signal, and the exit code is 1. Everything else is torchrun's own behaviour.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import parse_args, run

INTERRUPTED = 130


def describe_failures(exc: ChildFailedError) -> str:
    parts = []
    for rank, failure in sorted(exc.failures.items()):
        how = (
            f"signal {failure.signal_name()}"
            if failure.exitcode < 0
            else f"exit code {failure.exitcode}"
        )
        parts.append(f"rank {rank} (pid {failure.pid}) ended with {how}")
    return (
        "torchrun: " + "; ".join(parts) + ". Rank 0's last checkpoint is intact: run the same "
        "command with --resume to continue (with any number of processes)."
    )


def main(argv: Sequence[str]) -> int:
    try:
        run(parse_args(list(argv)))
    except SignalException:
        return INTERRUPTED
    except ChildFailedError as exc:
        print(describe_failures(exc), file=sys.stderr)
        codes = {f.exitcode for f in exc.failures.values()}
        return INTERRUPTED if codes <= {INTERRUPTED} else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
