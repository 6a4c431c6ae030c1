"""The one error type of knee-phantom."""

from __future__ import annotations

from knee_volumes import VolumeError

__all__ = ["PhantomError"]


class PhantomError(VolumeError):
    """A phantom or phantom cohort cannot be made as asked (names the option and what was expected).

    It subclasses :class:`knee_volumes.VolumeError`, so code that handles volume
    errors handles phantom errors too.
    """
