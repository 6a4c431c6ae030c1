"""The prompt settings of ReasonKnee-Bench (docs/benchmark-protocol.md), as plain data.

``zero-shot`` asks for the box, the reasoning and the grades; ``instruction``
adds what the finding looks like on DESS and the MOAKS grading schema;
``gt-region`` adds a crop of the volume to the region of interest. Command-line
choices, prompt tables and the adapters' checks all read this one list.

>>> PROMPT_SETTINGS
('zero-shot', 'instruction', 'gt-region')
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["PROMPT_SETTINGS", "PromptSetting"]

#: One prompt setting (a type for APIs that take a setting).
PromptSetting = Literal["zero-shot", "instruction", "gt-region"]

#: The prompt settings, in the paper's order.
PROMPT_SETTINGS: tuple[PromptSetting, ...] = get_args(PromptSetting)
