"""Progress of long commands: a rich spinner with the current step and the time spent.

Shown on stderr only when it is a terminal and the command was not asked for ``--json``
(``vcc_ops.cli.run`` turns it off then); otherwise each step is one plain line on stderr,
so logs and scripts keep the same record.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

_quiet = False


def set_quiet(quiet: bool) -> None:
    """No live progress in this process (``--json`` output, tests)."""
    global _quiet
    _quiet = quiet


def live_enabled() -> bool:
    return not _quiet and sys.stderr.isatty()


class Steps:
    """A callback naming the current step: the spinner's text on a terminal (each finished
    step stays above it as a line), else a plain ``prefix: step`` line on stderr.
    :meth:`done` removes the spinner early (before a live wallboard takes the terminal)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._bar: Progress | None = None
        if live_enabled():
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._bar.add_task(prefix, total=None)
            self._bar.start()

    def __call__(self, msg: str) -> None:
        if self._bar is None:
            click.echo(f"{self.prefix}: {msg}", err=True)
            return
        self._bar.console.print(f"{self.prefix}: {msg}", highlight=False)
        self._bar.update(self._task, description=f"{self.prefix}: {msg}")

    def done(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@contextmanager
def steps(prefix: str) -> Iterator[Steps]:
    """:class:`Steps` for the length of the block."""
    reporter = Steps(prefix)
    try:
        yield reporter
    finally:
        reporter.done()


@contextmanager
def working(message: str) -> Iterator[None]:
    """One long step with a spinner (nothing printed when not live)."""
    if not live_enabled():
        yield
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        bar.add_task(message, total=None)
        yield
