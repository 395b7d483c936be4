"""The one error type users see: a clear one-line message, no traceback."""


class RdsweepError(Exception):
    """A user-facing error (bad config, data, bitstream or path)."""
