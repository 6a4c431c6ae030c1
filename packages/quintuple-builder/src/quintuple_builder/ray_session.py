"""Ray, started or joined the one way every parallel run of the workspace uses.

:func:`ray_session` connects to the cluster named by ``$RAY_ADDRESS`` when it is
set (its workers must be able to import the workspace's packages), otherwise
starts a local instance whose workers run this interpreter (no dashboard, and
no ``uv run`` runtime environment rebuilt per worker). An instance that is
already running is joined and left running; one the session started is shut
down when the block ends. Without Ray installed it raises
:class:`~quintuple_builder.QuintupleBuilderError` naming the ``ray`` extra.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from quintuple_builder.errors import needs_extra

__all__ = ["ray_session"]


def _no_uv_runtime_env() -> None:
    """Workers of a local instance run this interpreter: stop Ray re-creating a `uv run` environment
    (it would repackage the working tree and install it anew in every worker)."""
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None and os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] == "0":
        setattr(constants, "RAY_ENABLE_UV_RUN_RUNTIME_ENV", False)  # noqa: B010


@contextmanager
def ray_session(*, num_cpus: int | None = None) -> Iterator[Any]:
    """The ``ray`` module, initialised for the block (see the module docstring).

    ``num_cpus`` bounds a local instance (``None``: every CPU); it is ignored
    when joining ``$RAY_ADDRESS`` or an instance that is already running.
    """
    address = os.environ.get("RAY_ADDRESS")
    if not address:
        _no_uv_runtime_env()
    with needs_extra("ray"):
        import ray
    if ray.is_initialized():
        yield ray
        return
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    else:
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    try:
        yield ray
    finally:
        ray.shutdown()
