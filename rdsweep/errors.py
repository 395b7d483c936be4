"""The one error type users see, and how the command-line tools report it: one line, no traceback."""
from __future__ import annotations

import os
import signal
import sys
import warnings
from contextlib import contextmanager


class RdsweepError(Exception):
    """A user-facing error (bad config, data, bitstream, model file or path)."""


_received: list = []  # the signals (SIGINT, SIGTERM) received while a tool runs
_deferred = [False]  # True while modules are imported: a signal is recorded, not raised (see deferred_interrupts)


def _terminate(signum, frame):
    _received.append(signum)
    if not _deferred[0]:
        raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def deferred_interrupts():
    """Record SIGINT/SIGTERM without raising inside the block, then raise: an exception raised in the middle of
    importing a C extension (JAX's) comes out as an ImportError with a long traceback, or crashes the process."""
    _deferred[0] = True
    try:
        yield
    finally:
        _deferred[0] = False
    check_interrupt()


def _unraisable(hook):
    """sys.unraisablehook that stays quiet about a KeyboardInterrupt it could not raise (recorded: re-raised by
    check_interrupt) and passes anything else on."""
    def quiet(info):
        if not (isinstance(info.exc_value, KeyboardInterrupt) and _received):
            hook(info)
    return quiet


def check_interrupt() -> None:
    """Raise KeyboardInterrupt if a tool was interrupted. Python swallows an exception raised where it cannot
    propagate (a gc callback, which JAX installs, a __del__: "Exception ignored in ..."), so the signal handler
    also records the signal; outputs check this before they are renamed into place."""
    if _received:
        raise KeyboardInterrupt(signal.Signals(_received[0]).name)


@contextmanager
def interrupts(final: bool = False):
    """SIGINT and SIGTERM raise KeyboardInterrupt inside the block (recorded only, inside ``deferred_interrupts``);
    a KeyboardInterrupt that ends the block (the code's own clean-up done on its way out) prints one line
    ``rdsweep: interrupted`` and exits 130 at once (``exit_now``). For an entry point's whole run. ``final``:
    the process ends after the block, whose work is done: the signals are then ignored (``_after``)."""
    _received.clear()
    previous = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGINT, signal.SIGTERM)}
    sys.unraisablehook, unraisable = _unraisable(sys.unraisablehook), sys.unraisablehook
    try:
        yield
        check_interrupt()  # a signal whose exception was swallowed on the way
    except KeyboardInterrupt:
        print("rdsweep: interrupted", file=sys.stderr)
        exit_now(130)
    finally:
        _after(previous, final)
        sys.unraisablehook = unraisable


def _after(previous: dict, final: bool) -> None:
    """The handlers once an entry point's work is done: the previous ones, or, when the process is about to end
    (``final``), none: SIGINT and SIGTERM ignored. The outputs are written; the interpreter's shutdown (JAX's
    atexit clean-up, ~0.7 s) would otherwise die by the signal or print a KeyboardInterrupt traceback."""
    for sig, handler in previous.items():
        signal.signal(sig, signal.SIG_IGN if final else handler)


def report_errors(fn, *args, final: bool = False) -> int:
    """Run fn(*args) for a command-line tool: exit status 0, or 1 with ``rdsweep: error: ...`` on one line
    (130 when interrupted by Ctrl-C or SIGTERM, after the tool's own clean-up has run).

    ``final``: the process ends after it (see ``_after``).

    Python warnings raised meanwhile (numpy's overflow in a cast of a hostile value, a library's notice on a
    file about to be refused) are held back: shown after a success, dropped after a failure, whose one line
    says what went wrong."""
    _received.clear()
    previous = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGINT, signal.SIGTERM)}
    sys.unraisablehook, unraisable = _unraisable(sys.unraisablehook), sys.unraisablehook
    with warnings.catch_warnings(record=True) as held:
        try:
            fn(*args)
            check_interrupt()  # a signal whose exception was swallowed on the way
        except RdsweepError as e:
            return _fail(str(e))
        except BrokenPipeError:  # the reader of our output went away (`rdsweep ... | head`): as a pipe's writer
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141
        except OSError as e:  # unwritable output, missing directory, full disk...
            where = f"{e.filename}: " if e.filename else ""
            return _fail(f"{where}{e.strerror or e}")
        except MemoryError:
            return _fail("out of memory")
        except KeyboardInterrupt:
            print("rdsweep: interrupted", file=sys.stderr)
            return 130
        finally:
            _after(previous, final)
            sys.unraisablehook = unraisable
    for w in held:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
    return 0


def exit_now(code: int) -> None:
    """Exit with ``code``; after an interruption (130) at once, without waiting for threads a library left
    running (JAX's start-up timer, XLA's pools): the command's own clean-up has run, its output is flushed."""
    if code == 130:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


def _fail(message: str) -> int:
    print(f"rdsweep: error: {' '.join(message.split())}", file=sys.stderr)
    return 1
