"""Batched decoding of several questions on one shared, prefilled prefix (any causal LM).

Used by the Qwen2.5-VL and Med3DVLM adapters: the prefix (system turn + video,
or the volume's embeddings) is prefilled once per prepared input; its KV cache
is copied and repeated for ``n`` questions whose suffix tokens are
right-padded, masked and given explicit positions; then every question is
decoded greedily (or sampled) until its end-of-sequence token.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from vlm_adapters.protocol import Query, Reply, Usage

__all__ = ["decode_on_cache", "generate_kwargs", "pick_next", "replies_on_prefix", "until_eos"]


def until_eos(tokens: list[int], eos: set[int]) -> list[int]:
    """Tokens up to and including the first end-of-sequence token.

    >>> until_eos([5, 6, 2, 7], {2})
    [5, 6, 2]
    """
    for i, t in enumerate(tokens):
        if t in eos:
            return tokens[: i + 1]
    return tokens


def pick_next(logits: Any, *, do_sample: bool, temperature: float, generator: Any) -> Any:
    """Greedy argmax, or a sample from ``softmax(logits / temperature)``."""
    import torch

    if not do_sample:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / max(temperature, 1e-5), dim=-1).cpu()
    return torch.multinomial(probs, 1, generator=generator)[:, 0].to(logits.device)


def _positions(start: Any, width: int, rope_axes: int | None) -> Any:
    """``start[:, None] + arange(width)`` as ``(n, width)``, or ``(rope_axes, n, width)``."""
    import torch

    pos = start[:, None] + torch.arange(width, device=start.device)[None, :]
    return pos if rope_axes is None else pos[None].expand(rope_axes, *pos.shape)


def decode_on_cache(
    model: Any,
    cache: Any,
    suffixes: Sequence[Sequence[int]],
    *,
    prefix_length: int,
    next_position: int,
    pad_id: int,
    eos_ids: set[int],
    max_new_tokens: int,
    do_sample: bool = False,
    temperature: float = 1.0,
    seed: int = 0,
    rope_axes: int | None = None,
) -> list[list[int]]:
    """New tokens of each suffix (up to and including its end-of-sequence token).

    ``cache`` is the prefix's KV cache (batch 1; copied, never modified);
    ``next_position`` is the position id of the first suffix token;
    ``rope_axes=3`` gives Qwen2.5-VL's multimodal-RoPE position layout. Every
    suffix must hold at least one token.
    """
    import torch

    if any(len(s) == 0 for s in suffixes):
        raise ValueError("decode_on_cache: every suffix needs at least one token")
    dev = next(model.parameters()).device
    n = len(suffixes)
    lens = torch.tensor([len(s) for s in suffixes], device=dev)
    width = int(lens.max().item())
    ids = torch.full((n, width), pad_id, dtype=torch.long, device=dev)
    for i, s in enumerate(suffixes):
        ids[i, : len(s)] = torch.tensor(list(s), dtype=torch.long, device=dev)
    suffix_mask = (torch.arange(width, device=dev)[None, :] < lens[:, None]).long()
    attn = torch.cat(
        [torch.ones((n, prefix_length), dtype=torch.long, device=dev), suffix_mask], dim=1
    )
    start = torch.full((n,), next_position, dtype=torch.long, device=dev)
    cache = copy.deepcopy(cache)
    if n > 1:
        cache.batch_repeat_interleave(n)
    gen = torch.Generator(device="cpu").manual_seed(seed) if do_sample else None
    produced: list[list[int]] = [[] for _ in range(n)]
    finished = torch.zeros(n, dtype=torch.bool, device=dev)
    with torch.inference_mode():
        out = model(
            input_ids=ids,
            attention_mask=attn,
            position_ids=_positions(start, width, rope_axes),
            cache=cache,
            use_cache=True,
        )
        logits = out.logits[torch.arange(n, device=dev), lens - 1]
        for step in range(1, max_new_tokens + 1):
            cache = getattr(out, "cache", None) or out.past_key_values
            nxt = pick_next(logits, do_sample=do_sample, temperature=temperature, generator=gen)
            nxt = torch.where(finished, torch.full_like(nxt, pad_id), nxt)
            for i, t in enumerate(nxt.tolist()):
                if not finished[i]:
                    produced[i].append(int(t))
            finished |= torch.tensor([t in eos_ids for t in nxt.tolist()], device=dev)
            if bool(finished.all()) or step >= max_new_tokens:
                break
            attn = torch.cat([attn, torch.ones((n, 1), dtype=torch.long, device=dev)], dim=1)
            out = model(
                input_ids=nxt[:, None],
                attention_mask=attn,
                position_ids=_positions(start + lens + step - 1, 1, rope_axes),
                cache=cache,
                use_cache=True,
            )
            logits = out.logits[:, -1]
    return [until_eos(p, eos_ids) for p in produced]


def generate_kwargs(options: Any, *, eos_ids: set[int], pad_id: int) -> dict[str, Any]:
    """``model.generate`` options of an adapter's ``options`` (greedy, or seeded sampling)."""
    import torch

    kwargs: dict[str, Any] = {
        "max_new_tokens": options.max_new_tokens,
        "do_sample": options.do_sample,
        "pad_token_id": pad_id,
        "eos_token_id": sorted(eos_ids),
    }
    if options.do_sample:
        torch.manual_seed(options.seed)
        kwargs["temperature"] = options.temperature
    return kwargs


def replies_on_prefix(
    queries: Sequence[Query],
    decode: Callable[[int, int], list[tuple[str, int, int]]],
    *,
    prefix_length: int,
    prefix_seconds: float,
    question_batch: int,
) -> Iterator[Reply]:
    """Replies of questions decoded ``question_batch`` at a time on one prefilled prefix.

    ``decode(start, stop)`` answers ``queries[start:stop]`` as ``(text, suffix_tokens,
    new_tokens)``. Usage: every reply's prompt is prefix + suffix; its
    ``prefill_tokens`` count the prefix on the scan's first reply only. The
    prefix's time is shared equally by the questions.
    """
    share = prefix_seconds / max(1, len(queries))
    k = max(1, int(question_batch))
    used = False
    for start in range(0, len(queries), k):
        qs = queries[start : start + k]
        t0 = time.perf_counter()
        outs = decode(start, start + len(qs))
        dt = (time.perf_counter() - t0) / len(qs)
        for q, (text, n_suffix, n_new) in zip(qs, outs, strict=True):
            prefill = n_suffix + (0 if used else prefix_length)
            used = True
            total = prefix_length + n_suffix
            yield Reply(
                q.record_id, text, Usage(total, n_new, total + n_new, 0, prefill), share + dt
            )
