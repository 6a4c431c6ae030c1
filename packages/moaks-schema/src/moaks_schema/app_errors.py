"""How every ReasonKnee app turns the project's errors into a one-line message (shared helper).

The apps are click commands; each mixes :class:`ProjectErrorsAsMessages` into
its command or group class. An error a user can act on (one of the libraries'
named errors, or a file that cannot be opened) then ends the command with
``Error: <message on one line>`` on stderr and exit code 1, never a traceback;
usage errors stay click's (exit 2), and anything else is a bug and is raised.

The libraries' error types are named here, not imported: this package is the
lowest one every app depends on, and an error type whose library was never
imported cannot have been raised (:func:`is_project_error` looks only at
imported ones).

>>> from moaks_schema.errors import MoaksSchemaError
>>> is_project_error(MoaksSchemaError("x")), is_project_error(KeyError("x"))
(True, False)
>>> one_line(MoaksSchemaError("codebook.csv, row 3: unknown attribute\\n(expected one of ...)"))
'codebook.csv, row 3: unknown attribute (expected one of ...)'
"""

from __future__ import annotations

import importlib
import re
import sys
from typing import Any

__all__ = ["PROJECT_ERRORS", "ProjectErrorsAsMessages", "is_project_error", "one_line"]

#: ``module:Class`` of each library's error type (each package has one, in its errors.py).
PROJECT_ERRORS: tuple[str, ...] = (
    "moaks_schema.errors:MoaksSchemaError",
    "bbox3d.errors:Bbox3dError",
    "knee_volumes.errors:VolumeError",
    "knee_phantom.errors:PhantomError",
    "knee_segmenter.errors:SegmenterError",
    "quintuple_builder.errors:QuintupleBuilderError",
    "vlm_adapters.errors:AdapterError",
    "bench_metrics.errors:BenchMetricsError",
)


def _loaded_error_types() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [OSError]  # a file that cannot be opened names itself
    for entry in PROJECT_ERRORS:
        module, _, name = entry.partition(":")
        if module in sys.modules:
            found.append(getattr(importlib.import_module(module), name))
    return tuple(found)


def is_project_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a library's named error (or an OSError) that a message explains."""
    return isinstance(exc, _loaded_error_types())


def one_line(exc: BaseException) -> str:
    """The error's message on one line (line breaks and runs of spaces become one space)."""
    return re.sub(r"\s+", " ", str(exc)).strip() or type(exc).__name__


class ProjectErrorsAsMessages:
    """Mix into a ``click.Command`` or ``click.Group``: project errors end in one line and exit 1.

    ``class BuildCommand(ProjectErrorsAsMessages, click.Command): ...``
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)  # type: ignore[misc]
        except Exception as exc:
            if not is_project_error(exc):
                raise
            print(f"Error: {one_line(exc)}", file=sys.stderr, flush=True)
            ctx.exit(1)
