"""The one error type users see: a clear one-line message, no traceback."""
import sys


class RdsweepError(Exception):
    """A user-facing error (bad config, data, bitstream or path)."""


def report_errors(fn, *args) -> int:
    """Run fn(*args) for a command-line tool: an RdsweepError becomes `rdsweep: error: ...` and exit status 1."""
    try:
        fn(*args)
    except RdsweepError as e:
        print(f"rdsweep: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # unwritable output, missing directory, full disk...
        where = f"{e.filename}: " if e.filename else ""
        print(f"rdsweep: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    return 0
