"""The one error type users see, and how the command-line tools report it: one line, no traceback."""
from __future__ import annotations

import signal
import sys


class RdsweepError(Exception):
    """A user-facing error (bad config, data, bitstream, model file or path)."""


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def report_errors(fn, *args) -> int:
    """Run fn(*args) for a command-line tool: exit status 0, or 1 with ``rdsweep: error: ...`` on one line
    (130 when interrupted by Ctrl-C or SIGTERM, after the tool's own clean-up has run)."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        fn(*args)
    except RdsweepError as e:
        print(f"rdsweep: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # unwritable output, missing directory, full disk...
        where = f"{e.filename}: " if e.filename else ""
        print(f"rdsweep: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except MemoryError:
        print("rdsweep: error: out of memory", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rdsweep: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
