"""The project's errors as one-line messages for the apps (each app depends on quintuple-builder).

An app's command catches what its work raised and re-raises
:func:`as_failure` of it: an error a user can fix (a named library error, or a
file that cannot be opened) becomes the app's own failure with the message on
one line (what, which file or option, what was expected), never a traceback;
anything else is a bug and is raised unchanged.

>>> exc = QuintupleBuilderError("moaks.txt: no ID column\\n(expected ID, SIDE)")
>>> print(as_failure(exc, RuntimeError))
moaks.txt: no ID column (expected ID, SIDE)
>>> bug = KeyError("x")
>>> as_failure(bug, RuntimeError) is bug
True
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bbox3d import Bbox3dError
from knee_volumes import VolumeError
from moaks_schema import MoaksSchemaError

from quintuple_builder.errors import QuintupleBuilderError

__all__ = ["USER_ERRORS", "as_failure", "one_line"]

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


def as_failure(
    exc: BaseException, failure: Callable[[str], BaseException], *more: type[BaseException]
) -> BaseException:
    """``failure(one_line(exc))`` for :data:`USER_ERRORS` and ``more``; ``exc`` itself otherwise."""
    return failure(one_line(exc)) if isinstance(exc, (*USER_ERRORS, *more)) else exc
