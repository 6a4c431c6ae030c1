"""GPU benchmark: Qwen2.5-VL-3B and Med3DVLM on one full-size scan with all 69 questions, with and without prefix reuse.

The model is the Qwen2.5-VL-3B architecture built from its published config
values (written below; nothing is downloaded) with random weights: throughput
does not depend on the weights. The tokenizer is a byte-level BPE trained
here on the benchmark's own prompts (about 3.6 characters per token, like a
real BPE), with the Qwen special tokens and chat template.

Input: one synthetic full-size scan (160 x 384 x 384) prepared once with the
public scripts' frame settings: all 160 sagittal slices as a video, window
0-400, fps 4 (384 x 384 frames -> 392 x 392 at the processor, 15,680 video
tokens). Questions: the 69 instruction prompts.

Modes, measured in one run:
- ``plain`` (baseline, the public scripts' way): every question encodes and
  prefills the video again (``model.generate``); timed on the first
  ``--plain-questions`` questions (the per-question cost is constant).
- ``reuse``: the video prefix is encoded and prefilled once, the 69 questions
  are decoded on copies of its KV cache, one at a time and then
  ``--question-batch`` at a time (reuse alone vs reuse + batching).

Med3DVLM (``--model med3dvlm``, or ``all``): the published architecture
(DCFormer + mixer projector + Qwen2.5-7B dimensions; our implementation,
random weights) on the same scan prepared as it was trained (min-max,
foreground crop, resized to 128 x 256 x 256); its image prefix is 257
positions (256 visual embeddings + position 0), so prefix reuse saves less
prefill than for Qwen's 15,680-token video, but the volume is also encoded
once instead of 69 times.

Every question decodes exactly ``--max-new-tokens`` tokens (a random model's
end-of-turn token is ignored), so both modes do the same decoding work.
Prints medians and the ratio to the plain baseline; ``--json FILE`` also
writes them. ``--tiny`` runs a toy config on a small scan on the CPU (a dry run).

    uv run --frozen python benchmarks/vlm_gpu.py                   # Qwen on the GPU machine (< 10 min on an H100)
    uv run --frozen python benchmarks/vlm_gpu.py --model med3dvlm  # Med3DVLM on the GPU machine
    uv run --frozen python benchmarks/vlm_gpu.py --tiny --model all  # dry run of both here (CPU)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from qwen25_vl_3b import QWEN25_VL_3B_TEXT, QWEN25_VL_3B_VISION  # benchmarks/ is on sys.path

#: Per-frame pixel bound of the video processor (transformers' default; qwen-vl-utils gives the same
#: 392 x 392 for 160 frames of 384 x 384).
VIDEO_MAX_PIXELS = 768 * 28 * 28

TINY_TEXT: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rope_parameters": {
        "rope_type": "default",
        "rope_theta": 1000000.0,
        "mrope_section": [2, 3, 3],
    },
}
TINY_VISION: dict[str, Any] = {
    "depth": 1,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_heads": 2,
    "out_hidden_size": 64,
    "fullatt_block_indexes": [0],
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "tokens_per_second": 2,
}


def trained_tokenizer(texts: list[str]) -> Any:
    """A byte-level BPE trained on ``texts``, wrapped as a Qwen tokenizer (special tokens, chat template)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from vlm_adapters.tiny import qwen_tokenizer

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=8000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(texts, trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return qwen_tokenizer(model["vocab"], merges)


def build_model(tokenizer: Any, *, tiny: bool, device: Any, dtype: Any) -> Any:
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    text = dict(TINY_TEXT if tiny else QWEN25_VL_3B_TEXT)
    text["vocab_size"] = max(
        len(tokenizer) + 16, text.get("vocab_size", 0)
    )  # spare ids above the tokenizer's
    ids = {
        t: tokenizer.convert_tokens_to_ids(t)
        for t in (
            "<|endoftext|>",
            "<|im_end|>",
            "<|image_pad|>",
            "<|video_pad|>",
            "<|vision_start|>",
            "<|vision_end|>",
        )
    }
    text.update(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=dict(TINY_VISION if tiny else QWEN25_VL_3B_VISION),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=not tiny,
    )
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype)
    return model.eval()


def scan_input(*, tiny: bool, slices: str | int) -> Any:
    import numpy as np
    from knee_volumes import prepare_frames
    from vlm_adapters import ScanInput

    shape = (16, 64, 64) if tiny else (160, 384, 384)
    rng = np.random.default_rng(0)
    vol = rng.gamma(4.0, 40.0, size=shape).astype(np.uint16)  # DESS-like intensities around 0-400
    frames = prepare_frames(vol, window=(0, 400), slices=slices)
    return ScanInput(
        "bench_00M_1",
        shape,
        view=frames.view,
        frames=np.array(frames.array),
        slice_indices=frames.slice_indices,
    )


def med3dvlm_setup(args: argparse.Namespace, tokenizer: Any, *, device: Any, dtype: Any) -> tuple:
    """(adapter factory, scan input, description) for Med3DVLM (published or tiny config, random weights)."""
    import numpy as np
    import torch
    from transformers import AddedToken
    from vlm_adapters import ScanInput
    from vlm_adapters.med3dvlm.adapter import Med3DVLMAdapter, Med3DVLMOptions
    from vlm_adapters.med3dvlm.config import IMAGE_TOKEN, published_config
    from vlm_adapters.med3dvlm.model import Med3DVLMForCausalLM
    from vlm_adapters.med3dvlm.tiny import tiny_config
    from vlm_adapters.volume import prepare_volume

    tokenizer.add_tokens(
        [AddedToken(IMAGE_TOKEN, special=True, normalized=False)], special_tokens=True
    )
    vocab = len(tokenizer) + 16  # spare ids above the tokenizer's
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    if args.tiny:
        config = tiny_config(vocab_size=vocab, eos=eos, pad=pad)
    else:
        config = published_config(vocab_size=vocab)
        config.eos_token_id, config.pad_token_id = eos, pad
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device(device):
        model = Med3DVLMForCausalLM._from_config(config, dtype=dtype).eval()
    shape = (16, 64, 64) if args.tiny else (160, 384, 384)
    vol = np.random.default_rng(0).gamma(4.0, 40.0, size=shape).astype(np.uint16)
    tensor, view = prepare_volume(vol, shape=config.image_shape, expected_shape=shape)
    scan = ScanInput("bench_00M_1", shape, view=view, volume=tensor)

    def make(reuse: bool, batch: int = 1) -> Med3DVLMAdapter:
        options = Med3DVLMOptions(
            max_new_tokens=args.max_new_tokens, prefix_reuse=reuse, question_batch=batch
        )
        a = Med3DVLMAdapter(model, tokenizer, options=options, name="med3dvlm-7b-random")
        a.eos_ids = {vocab - 1}  # decode a fixed number of tokens (see the module doc)
        return a

    n_params = sum(p.numel() for p in model.parameters())
    what = f"{n_params / 1e6:,.1f} M parameters ({'tiny' if args.tiny else 'Med3DVLM-7B'} config, random weights); volume {tuple(tensor.shape)}"
    figures = {
        "model": "med3dvlm",
        "parameters": n_params,
        "volume": list(tensor.shape),
        "published_size_counts": published_prefill_counts(tokenizer),
    }
    return make, scan, figures, what


def published_prefill_counts(tokenizer: Any) -> dict[str, Any]:
    """Prefill tokens per scan at the published size (256 image tokens), 69 instruction prompts.

    A count (tokenizer only, no model): plain prefills every prompt token of every
    question; reuse prefills the 257-position image prefix once and each
    question's text after it.
    """
    from moaks_schema import QUESTIONS
    from quintuple_builder.prompts import prompt
    from vlm_adapters.med3dvlm.config import IMAGE_TOKEN

    n_image = 256
    lengths = [
        len(tokenizer(IMAGE_TOKEN * n_image + " " + prompt(q, "instruction"))["input_ids"])
        for q in QUESTIONS
    ]
    plain = sum(lengths)
    reuse = plain - (len(lengths) - 1) * (n_image + 1)
    return {"plain": plain, "reuse": reuse, "ratio_reuse_over_plain": reuse / plain}


def qwen_setup(args: argparse.Namespace, tokenizer: Any, *, device: Any, dtype: Any) -> tuple:
    """(adapter factory, scan input, description) for Qwen2.5-VL-3B (or the tiny config)."""
    from vlm_adapters.qwen import QwenOptions, QwenVLAdapter
    from vlm_adapters.tiny import qwen_processor

    slices: str | int = args.slices if args.slices == "all" else int(args.slices)
    processor = qwen_processor(
        tokenizer,
        max_pixels=64 * 64 if args.tiny else VIDEO_MAX_PIXELS,
        min_pixels=28 * 28 if args.tiny else 56 * 56,
    )
    model = build_model(tokenizer, tiny=args.tiny, device=device, dtype=dtype)
    scan = scan_input(tiny=args.tiny, slices=slices)

    def make(reuse: bool, batch: int = 1) -> QwenVLAdapter:
        a = QwenVLAdapter(
            model,
            processor,
            name="qwen2.5-vl-3b-random",
            options=QwenOptions(
                slices=slices,
                fps=args.fps,
                max_new_tokens=args.max_new_tokens,
                prefix_reuse=reuse,
                question_batch=batch,
            ),
        )
        # a random model: decode a fixed number of tokens in both modes (same work): its end-of-turn is
        # replaced by the last (spare) vocabulary id, which no prompt contains
        a.eos_ids = {model.config.text_config.vocab_size - 1}
        return a

    n_params = sum(p.numel() for p in model.parameters())
    what = (
        f"{n_params / 1e6:,.1f} M parameters ({'tiny' if args.tiny else 'Qwen2.5-VL-3B'} config, "
        f"random weights); frames {tuple(scan.frames.shape)}, fps {args.fps}"
    )
    figures = {"model": "qwen2.5-vl", "parameters": n_params, "frames": list(scan.frames.shape)}
    return make, scan, figures, what


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="toy config, small scan, CPU: a dry run")
    ap.add_argument(
        "--model", choices=["qwen", "med3dvlm", "all"], default="qwen", help="which architecture"
    )
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--question-batch", type=int, default=16)
    ap.add_argument(
        "--plain-questions",
        type=int,
        default=6,
        help="questions timed in the plain (baseline) mode",
    )
    ap.add_argument(
        "--skip-batch1", action="store_true", help="skip the reuse run with question_batch=1"
    )
    ap.add_argument(
        "--slices", default="all", help="'all' (public scripts: 160) or N evenly spaced"
    )
    ap.add_argument("--fps", type=float, default=4.0)
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    import torch
    from moaks_schema import QUESTIONS
    from quintuple_builder.prompts import prompt
    from vlm_adapters import Query

    device = torch.device("cpu" if args.tiny or not torch.cuda.is_available() else "cuda")
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    prompts = [prompt(q, "instruction") for q in QUESTIONS]
    queries = tuple(
        Query(f"bench_00M_1_{q.id}", "bench_00M_1", q.id, p)
        for q, p in zip(QUESTIONS, prompts, strict=True)
    )
    results = []
    for name in ("qwen", "med3dvlm") if args.model == "all" else (args.model,):
        t0 = time.perf_counter()
        tokenizer = trained_tokenizer(
            [prompt(q, s) for q in QUESTIONS for s in ("zero-shot", "instruction", "gt-region")]
        )
        setup = qwen_setup if name == "qwen" else med3dvlm_setup
        make, scan, figures, what = setup(args, tokenizer, device=device, dtype=dtype)
        print(
            f"device: {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}; "
            f"{what}; setup {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        figures.update(device=str(device), max_new_tokens=args.max_new_tokens)
        if name == "qwen":
            figures["fps"] = args.fps
        figures.update(measure(make, scan, queries, args=args, device=device))
        if "published_size_counts" in figures:
            c = figures["published_size_counts"]
            print(
                f"published size (256 image tokens), a count: prefill tokens per scan "
                f"{c['reuse']:,} with reuse vs {c['plain']:,} without, ratio {c['ratio_reuse_over_plain']:.3f}"
            )
        results.append(figures)
        del make, scan
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results if len(results) > 1 else results[0], fh, indent=2)
    return 0


def measure(
    adapter: Any, scan: Any, queries: tuple, *, args: argparse.Namespace, device: Any
) -> dict[str, Any]:
    """Plain (prefix per question) vs prefix reuse on one scan; prints the table, returns the figures."""
    import torch
    from vlm_adapters import Batch

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    # warm-up (kernels, allocator) on one question, not timed
    warm = adapter(True)
    list(warm.run([Batch(scan, queries[:1])]))
    sync()

    # baseline: the public scripts' way, one question at a time, the video every time
    plain = adapter(False)
    n_plain = min(args.plain_questions, len(queries))
    per_q: list[float] = []
    plain_prefill = 0
    plain_texts = []
    for q in queries[:n_plain]:
        t = time.perf_counter()
        (r,) = list(plain.run([Batch(scan, (q,))]))
        sync()
        per_q.append(time.perf_counter() - t)
        plain_prefill += r.usage.prefill_tokens or 0
        plain_texts.append(r.raw_text)
    plain_s_per_q = statistics.median(per_q)
    plain_prefill_per_q = plain_prefill / n_plain

    # prefix reuse: all questions of the scan, the video once; batched, and one question at a time
    def timed_reuse(batch: int) -> tuple[float, list[Any], float]:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        a = adapter(True, batch)
        t = time.perf_counter()
        out = list(a.run([Batch(scan, queries)]))
        sync()
        wall = time.perf_counter() - t
        peak = (
            torch.cuda.max_memory_allocated(device) / 2**30
            if device.type == "cuda"
            else float("nan")
        )
        return wall, out, peak

    n = len(queries)
    rows = []
    for batch in ([1] if args.question_batch != 1 and not args.skip_batch1 else []) + [
        args.question_batch
    ]:
        wall, replies, peak = timed_reuse(batch)
        rows.append((batch, wall, replies, peak))
    _, reuse_s, replies, peak = rows[-1]
    reuse_prefill = sum(r.usage.prefill_tokens or 0 for r in replies)
    prompt_tokens = sum(r.usage.prompt_tokens for r in replies)
    new_tokens = sum(r.usage.completion_tokens for r in replies)
    same = sum(a == b.raw_text for a, b in zip(plain_texts, replies[:n_plain], strict=True))

    plain_qps = 1.0 / plain_s_per_q
    reuse_qps = n / reuse_s
    # plain mode prefills every prompt token of every question: the prompts' sum, counted exactly
    # (the timed questions confirm prefill == prompt tokens there)
    plain_prefill_scan = prompt_tokens
    timed_prompt = sum(r.usage.prompt_tokens for r in replies[:n_plain])
    assert plain_prefill == timed_prompt, (plain_prefill, timed_prompt)
    figures = {
        "questions": n,
        "plain": {
            "questions_timed": n_plain,
            "median_s_per_question": plain_s_per_q,
            "questions_per_s": plain_qps,
            "prefill_tokens_per_question": plain_prefill_per_q,
            "prefill_tokens_per_scan": plain_prefill_scan,
        },
        "reuse": [
            {
                "question_batch": b,
                "wall_s": w,
                "questions_per_s": n / w,
                "peak_gib": pk,
                "speedup": (n / w) / plain_qps,
            }
            for b, w, _, pk in rows
        ],
        "reuse_prefill_tokens_per_scan": reuse_prefill,
        "prompt_tokens_per_scan": prompt_tokens,
        "new_tokens_per_scan": new_tokens,
        "speedup_questions_per_s": reuse_qps / plain_qps,
        "prefill_ratio_reuse_over_plain": reuse_prefill / plain_prefill_scan,
        "same_text_on_timed_questions": f"{same}/{n_plain}",
    }
    print(
        f"{'mode':<40}{'questions/s':>12}{'s/scan (69 q)':>15}{'prefill tok/scan':>18}{'ratio':>8}{'peak GiB':>10}"
    )
    print(
        f"{'plain (baseline, prefix per question)':<40}{plain_qps:>12.3f}{n / plain_qps:>15.1f}"
        f"{plain_prefill_scan:>18,.0f}{1.0:>8.2f}{'':>10}"
    )
    for b, w, _, pk in rows:
        label = f"reuse (prefix once, batch {b})"
        print(
            f"{label:<40}{n / w:>12.3f}{w:>15.1f}{reuse_prefill:>18,}{(n / w) / plain_qps:>8.2f}{pk:>10.1f}"
        )
    print(
        f"prefill tokens per scan, reuse / plain: {reuse_prefill / plain_prefill_scan:.3f} "
        f"({reuse_prefill:,} vs {plain_prefill_scan:,.0f}); {new_tokens:,} new tokens per scan; plain median over "
        f"{n_plain} questions ({', '.join(f'{x:.2f}' for x in per_q)} s); same greedy text on {same}/{n_plain}"
    )
    return figures


if __name__ == "__main__":
    sys.exit(main())
