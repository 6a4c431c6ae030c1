"""The project's errors as one-line messages for the apps (each app depends on quintuple-builder).

An app wraps its command in :func:`reported_errors`: an error a user can fix
(a named library error, or a file that cannot be opened) becomes the app's own
failure with the message on one line (what, which file or option, what was
expected), never a traceback; anything else is a bug and still raises.

>>> try:
...     with reported_errors(RuntimeError):
...         raise QuintupleBuilderError("moaks.txt: no ID column\\n(expected ID, SIDE)")
... except RuntimeError as exc:
...     print(exc)
moaks.txt: no ID column (expected ID, SIDE)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator

from bbox3d import Bbox3dError
from knee_volumes import VolumeError
from moaks_schema import MoaksSchemaError

from quintuple_builder.errors import QuintupleBuilderError

__all__ = ["USER_ERRORS", "one_line", "reported_errors"]

#: Errors of the libraries below the apps (and of the file system) that a user can act on.
USER_ERRORS: tuple[type[BaseException], ...] = (
    MoaksSchemaError,
    Bbox3dError,
    VolumeError,
    QuintupleBuilderError,
    OSError,
)


def one_line(exc: BaseException) -> str:
    """The error's message on one line (line breaks and runs of spaces become one space)."""
    text = re.sub(r"\s+", " ", str(exc)).strip()
    return text or type(exc).__name__


@contextlib.contextmanager
def reported_errors(
    failure: Callable[[str], BaseException], *more: type[BaseException]
) -> Iterator[None]:
    """Turn :data:`USER_ERRORS` (and ``more``) raised inside into ``failure(one_line(message))``."""
    try:
        yield
    except (*USER_ERRORS, *more) as exc:
        raise failure(one_line(exc)) from None
