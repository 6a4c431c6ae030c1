"""LoRA fine-tuning throughput and peak memory of Qwen2.5-VL-3B (random weights) on one GPU.

Prepared for a GPU machine (no hub access: the architecture is built from the
published Qwen2.5-VL-3B-Instruct config values written below). It times the
real training step of ``reasonknee train vlm`` -- ``encode_example`` ->
``collate`` -> ``answer_loss`` (answer-only loss, ``logits_to_keep``) ->
backward -> AdamW on the LoRA weights -- at:

- ``paper``: 160 sagittal slices at 384 x 384 (the public scripts' input: all
  slices as a video; the processor makes 392 x 392, i.e. 80 x 28 x 28 / 4 =
  15,680 video tokens), gradient checkpointing on -- the named baseline;
- ``reduced``: 32 slices at 224 x 224 (1,024 video tokens), with and without
  gradient checkpointing;
- ``paper-noGC``: the paper's input without gradient checkpointing (last: it
  may run out of memory, which is reported, not fatal).

Text lengths stand in for the BPE counts of an instruction prompt (~500
tokens) and a reasoning answer (~320 tokens); the byte-level test tokenizer
(vlm_adapters.tiny) gives one token per character, so prompt and answer are
random letters of those lengths. Prints the median step time, steps/s,
tokens/s and peak allocated memory per case, and ratios against ``paper``.

    python benchmarks/train_gpu.py                       # on the GPU (bf16), < 10 min
    python benchmarks/train_gpu.py --tiny --device cpu   # dry run on a CPU, seconds
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from qwen25_vl_3b import QWEN25_VL_3B_TEXT, QWEN25_VL_3B_VISION  # benchmarks/ is on sys.path

#: preprocessor_config.json pixel bounds (min_pixels, max_pixels) of the published checkpoint.
QWEN25_VL_PIXELS = (3136, 12845056)

#: A toy architecture for the CPU dry run (the shape of vlm_adapters.tiny).
TINY_TEXT = {
    "vocab_size": 512,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rope_parameters": {
        "rope_type": "default",
        "rope_theta": 1_000_000.0,
        "mrope_section": [2, 3, 3],
    },
    "tie_word_embeddings": False,
}
TINY_VISION = {
    "depth": 1,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_heads": 2,
    "out_hidden_size": 64,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [0],
    "tokens_per_second": 2,
}


def build_model(*, tiny: bool, processor, device, dtype):
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tok = processor.tokenizer
    ids = {
        t: tok.convert_tokens_to_ids(t)
        for t in (
            "<|endoftext|>",
            "<|im_end|>",
            "<|image_pad|>",
            "<|video_pad|>",
            "<|vision_start|>",
            "<|vision_end|>",
        )
    }
    text = dict(TINY_TEXT if tiny else QWEN25_VL_3B_TEXT)
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
        tie_word_embeddings=text["tie_word_embeddings"],
        attn_implementation="sdpa",  # pyright: ignore[reportCallIssue]
    )
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen2_5_VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    return model


def run_case(
    model, processor, *, name: str, frames: int, size: int, gc: bool, args, device, dtype
) -> dict:
    import numpy as np
    import torch
    from vlm_adapters.sft import answer_loss, collate, enable_checkpointing, encode_example

    if gc:
        enable_checkpointing(model)
    else:
        model.get_base_model().gradient_checkpointing_disable()
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz "))
    prompt = "".join(rng.choice(letters, args.prompt_tokens))
    answer = "".join(rng.choice(letters, args.answer_tokens))
    enc = encode_example(processor, video, prompt, answer)
    batch = collate([enc] * args.batch, pad_token_id=processor.tokenizer.pad_token_id)
    batch = {k: v.to(device) for k, v in batch.items()}
    batch["pixel_values_videos"] = batch["pixel_values_videos"].to(dtype)
    video_id = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    n_video = int((enc.input_ids == video_id).sum())
    seq = int(batch["input_ids"].shape[1])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    try:
        for i in range(args.warmup + args.steps):
            if cuda:
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            loss = answer_loss(model, batch)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if cuda:
                torch.cuda.synchronize(device)
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
    except torch.cuda.OutOfMemoryError as exc:
        model.zero_grad(set_to_none=True)
        del opt
        torch.cuda.empty_cache()
        return {
            "case": name,
            "frames": frames,
            "size": size,
            "gc": gc,
            "seq_len": seq,
            "video_tokens": n_video,
            "error": f"out of memory: {str(exc).splitlines()[0]}",
        }
    med = statistics.median(times)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None
    del opt
    return {
        "case": name,
        "frames": frames,
        "size": size,
        "gc": gc,
        "batch": args.batch,
        "seq_len": seq,
        "video_tokens": n_video,
        "median_step_s": med,
        "steps_per_s": 1.0 / med,
        "tokens_per_s": seq * args.batch / med,
        "peak_mem_gib": peak,
        "loss": loss.item(),
        "steps_timed": len(times),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="toy architecture and inputs (CPU dry run)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per case (median reported)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--prompt-tokens", type=int, default=500)
    ap.add_argument("--answer-tokens", type=int, default=320)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)

    import torch
    from transformers import AutoProcessor
    from vlm_adapters.sft import add_lora
    from vlm_adapters.tiny import build_tiny_qwen

    device = torch.device(args.device)
    dtype = (
        torch.bfloat16
        if device.type == "cuda" and torch.cuda.is_bf16_supported()
        else torch.float32
    )
    if args.tiny:
        cases = [("paper", 8, 56, True), ("reduced", 4, 28, True), ("reduced-noGC", 4, 28, False)]
        args.prompt_tokens, args.answer_tokens = (
            min(args.prompt_tokens, 64),
            min(args.answer_tokens, 32),
        )
    else:
        cases = [
            ("paper", 160, 384, True),
            ("reduced", 32, 224, True),
            ("reduced-noGC", 32, 224, False),
            ("paper-noGC", 160, 384, False),
        ]
    with tempfile.TemporaryDirectory() as tmp:
        processor = AutoProcessor.from_pretrained(build_tiny_qwen(Path(tmp) / "tok"))
    if not args.tiny:
        lo, hi = QWEN25_VL_PIXELS
        processor.video_processor.size = {"shortest_edge": lo, "longest_edge": hi}
    t0 = time.perf_counter()
    model = build_model(tiny=args.tiny, processor=processor, device=device, dtype=dtype)
    model = add_lora(
        model,
        r=args.lora_r,
        alpha=2 * args.lora_r,
        dropout=0.05,
        target_modules=("q_proj", "k_proj", "v_proj", "o_proj"),
        gradient_checkpointing=True,
    )
    model.train()
    n_all = sum(p.numel() for p in model.parameters())
    n_lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(
        f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}), "
        f"dtype {dtype}, {n_all / 1e9:.3f} B parameters, LoRA r={args.lora_r}: {n_lora / 1e6:.2f} M trainable, "
        f"built in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    results = []
    for name, frames, size, gc in cases:
        r = run_case(
            model,
            processor,
            name=name,
            frames=frames,
            size=size,
            gc=gc,
            args=args,
            device=device,
            dtype=dtype,
        )
        results.append(r)
        print(json.dumps(r), flush=True)
    base = next((r for r in results if r["case"] == "paper" and "error" not in r), None)
    print(
        "\ncase           frames  size  GC   seq_len  video_tok  median_s  steps/s  tokens/s  peak_GiB  vs paper"
    )
    for r in results:
        if "error" in r:
            print(
                f"{r['case']:<14} {r['frames']:>6} {r['size']:>5}  {'on' if r['gc'] else 'off':<3} "
                f"{r['seq_len']:>8} {r['video_tokens']:>10}  {r['error']}"
            )
            continue
        ratio = f"{base['median_step_s'] / r['median_step_s']:.2f}x faster" if base else "-"
        peak = f"{r['peak_mem_gib']:.1f}" if r["peak_mem_gib"] is not None else "-"
        print(
            f"{r['case']:<14} {r['frames']:>6} {r['size']:>5}  {'on' if r['gc'] else 'off':<3} {r['seq_len']:>8} "
            f"{r['video_tokens']:>10} {r['median_step_s']:>9.3f} {r['steps_per_s']:>8.2f} "
            f"{r['tokens_per_s']:>9.0f} {peak:>9}  {ratio}"
        )
    if args.json is not None:
        args.json.write_text(
            json.dumps({"device": str(device), "dtype": str(dtype), "results": results}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
