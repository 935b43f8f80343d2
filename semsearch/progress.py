"""Progress reports: the library calls back, whoever holds the terminal draws.

Library functions take ``on_progress`` callbacks and never draw anything themselves;
:func:`terminal_bar` is the one drawing implementation (a tqdm bar on stderr), used
by the CLI and by the library's ``show_progress=True`` conveniences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def terminal_bar(desc: str, unit: str, total: int | None = None, enabled: bool = True) -> Iterator[Callable]:
    """A bar; yields ``update(done, total=None, **postfix)`` that sets its position."""
    from tqdm.auto import tqdm

    # No monitor thread (it only nudges bars that stall): a process with another thread does not
    # fork worker processes (Store.count_terms), and bars are moved by their own updates here.
    tqdm.monitor_interval = 0
    bar = tqdm(total=total, unit=unit, desc=desc, disable=not enabled, dynamic_ncols=True)

    def update(done: int, total: int | None = None, **postfix) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.n = done
        if postfix:
            bar.set_postfix(**postfix, refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
