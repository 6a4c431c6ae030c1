"""`train_lora`: LoRA supervised fine-tuning of Qwen2.5-VL on a dataset folder's train split."""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vlm_adapters.errors import AdapterError
from vlm_adapters.sft import state as st
from vlm_adapters.sft.config import SftConfig
from vlm_adapters.sft.encoding import collate, encode_example
from vlm_adapters.sft.evaluation import Evaluator, generate_predictions
from vlm_adapters.sft.examples import ExampleInputs, SftExample, load_examples
from vlm_adapters.sft.loss import answer_loss

__all__ = [
    "EpochRecord",
    "TrainResult",
    "add_lora",
    "enable_checkpointing",
    "resolve_device",
    "train_lora",
]


@dataclass(frozen=True, kw_only=True)
class EpochRecord:
    """What one epoch did: optimizer steps so far, mean training loss, validation figures."""

    epoch: int
    global_step: int
    train_loss: float | None
    val_accuracy: float | None
    val_metrics: dict[str, Any] = field(default_factory=dict)
    predictions: str | None = None


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """Outcome of :func:`train_lora`.

    ``best_dir`` is the adapter to use (``qwen2.5-vl:BASE+lora:<best_dir>``);
    ``step_losses`` holds the mean training loss of every optimizer step.
    """

    out_dir: Path
    best_dir: Path
    best_epoch: int
    best_accuracy: float | None
    global_step: int
    history: tuple[EpochRecord, ...]
    step_losses: tuple[float, ...]
    resumed: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "out_dir": str(self.out_dir),
            "best_dir": str(self.best_dir),
            "best_epoch": self.best_epoch,
            "best_accuracy": self.best_accuracy,
            "global_step": self.global_step,
            "history": [asdict(h) for h in self.history],
            "step_losses": list(self.step_losses),
            "resumed": self.resumed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, resumed: bool = True) -> TrainResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            out_dir=Path(data["out_dir"]),
            best_dir=Path(data["best_dir"]),
            best_epoch=int(data["best_epoch"]),
            best_accuracy=data["best_accuracy"],
            global_step=int(data["global_step"]),
            history=tuple(EpochRecord(**h) for h in data["history"]),
            step_losses=tuple(data["step_losses"]),
            resumed=resumed,
        )


def resolve_device(device: str, dtype: str) -> tuple[Any, Any]:
    """(torch.device, torch dtype): ``auto`` picks CUDA, then MPS, then CPU; bf16 only where the device has it."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise AdapterError(f"device: {device!r} requested but torch sees no CUDA device")
    bf16_ok = dev.type == "cuda" and torch.cuda.is_bf16_supported()
    if dtype == "bf16" and not bf16_ok and dev.type != "cpu":
        raise AdapterError(f"dtype: bf16 requested but device {device!r} does not support it")
    use_bf16 = dtype == "bf16" or (dtype == "auto" and bf16_ok)
    return dev, (torch.bfloat16 if use_bf16 else torch.float32)


def _lr_lambda(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def fn(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        remaining = max(1, total_steps - warmup_steps)
        return max(0.0, 1.0 - (step - warmup_steps) / remaining)

    return fn


def _epoch_order(n: int, *, seed: int, epoch: int) -> list[int]:
    """The example order of one epoch: a function of (seed, epoch) only, so a resumed run replays it."""
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order


def _save_adapter(model: Any, processor: Any | None, folder: Path) -> None:
    model.save_pretrained(folder)
    if processor is not None:
        processor.save_pretrained(folder)


def train_lora(
    config: SftConfig,
    *,
    evaluate: Evaluator | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Fine-tune ``config.base`` with LoRA on the train split of ``config.dataset``.

    The loss covers the answer tokens only (see :mod:`vlm_adapters.sft.encoding`).
    After each epoch the model answers the val split (greedy, up to
    ``eval_limit`` questions), ``evaluate(dataset, "val", records)`` scores the
    replies (``reasonknee train vlm`` passes bench-metrics' scorer), and the
    adapter with the best ``metrics["accuracy"]`` so far is written to
    ``<out>/best`` (the first epoch wins ties; with ``eval_limit=0`` or no val
    split the last epoch is kept). Validation needs ``evaluate``: without
    one, ``eval_limit`` must be 0 (an :class:`AdapterError` otherwise). A
    resumable checkpoint (adapter, optimizer, scheduler, RNG, position in the
    epoch) is written every ``checkpoint_every`` optimizer steps and after each
    epoch; calling again with the same options continues from it, and returns
    the recorded result when the run had finished. Different options on an
    existing run folder raise :class:`AdapterError` naming them.
    """
    import torch

    out = config.out
    for name in (st.CHECKPOINT_DIR, st.BEST_DIR):
        st.recover_dir(out / name)
    ckpt = out / st.CHECKPOINT_DIR
    progress: dict[str, Any] | None = None
    if (ckpt / st.PROGRESS_FILE).is_file():
        recorded: dict[str, Any] = st.read_json(ckpt / st.PROGRESS_FILE, what="training progress")
        progress = recorded
        _check_fingerprint(config, recorded.get("fingerprint", {}), ckpt / st.PROGRESS_FILE)
        if recorded.get("finished") and (out / st.RESULT_FILE).is_file():
            return TrainResult.from_dict(
                st.read_json(out / st.RESULT_FILE, what="result"), resumed=True
            )

    if evaluate is None and config.eval_limit != 0:
        raise AdapterError(
            "train_lora: validation after each epoch (eval_limit="
            f"{config.eval_limit!r}) needs an evaluator: pass evaluate=... "
            "(e.g. reasonknee_train.evaluation.bench_evaluator) or set eval_limit=0"
        )
    if not config.base.is_dir():
        raise AdapterError(
            f"{config.base}: expected a Qwen2.5-VL model folder (config.json, weights, processor)"
        )
    train = load_examples(
        config.dataset,
        "train",
        target_column=config.target_column,
        setting=config.setting,
        limit=config.train_limit,
    )
    if not train:
        raise AdapterError(
            f"{config.dataset / 'quintuples.parquet'}: the train split has no rows with a {config.target_column!r}"
        )
    val: list[SftExample] = []
    if config.eval_limit != 0:
        val = load_examples(
            config.dataset,
            "val",
            target_column=config.target_column,
            setting=config.setting,
            limit=config.eval_limit,
        )

    out.mkdir(parents=True, exist_ok=True)  # only once the inputs are known to be usable
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    device, dtype = resolve_device(config.device, config.dtype)
    model, processor = _load_model(config, device=device, dtype=dtype)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    batches_per_epoch = math.ceil(len(train) / config.batch)
    steps_per_epoch = math.ceil(batches_per_epoch / config.grad_accum)
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    warmup = round(config.warmup_ratio * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(total_steps, warmup))

    epoch, batch_pos, global_step = 0, 0, 0
    history: list[EpochRecord] = []
    step_losses: list[float] = []
    best: dict[str, Any] = {"epoch": 0, "accuracy": None}
    resumed = progress is not None
    if progress is not None:
        _load_checkpoint(model, optimizer, scheduler, ckpt, device=device)
        epoch, batch_pos, global_step = (
            progress["epoch"],
            progress["batch_pos"],
            progress["global_step"],
        )
        history = [EpochRecord(**h) for h in progress["history"]]
        step_losses = list(progress["step_losses"])
        best = progress["best"]

    inputs = ExampleInputs(
        setting=config.setting, spec=config.input_spec(), cache=config.frame_cache
    )
    pad_id = processor.tokenizer.pad_token_id
    if pad_id is None:
        raise AdapterError(
            f"{config.base}: the tokenizer has no pad token; expected one (Qwen: <|endoftext|>)"
        )

    def save_checkpoint(finished: bool = False) -> None:
        with st.atomic_dir(ckpt) as tmp:
            model.save_pretrained(tmp)
            torch.save(
                {
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all()
                    if torch.cuda.is_available()
                    else None,
                },
                tmp / st.TRAINER_STATE_FILE,
            )
            st.write_json(
                tmp / st.PROGRESS_FILE,
                {
                    "fingerprint": config.fingerprint(),
                    "epoch": epoch,
                    "batch_pos": batch_pos,
                    "global_step": global_step,
                    "history": [asdict(h) for h in history],
                    "step_losses": step_losses,
                    "best": best,
                    "finished": finished,
                },
            )

    from tqdm.auto import tqdm

    model.train()
    stop = config.max_steps is not None and global_step >= config.max_steps
    while epoch < config.epochs and not stop:
        order = _epoch_order(len(train), seed=config.seed, epoch=epoch)
        batches = [order[i : i + config.batch] for i in range(0, len(order), config.batch)]
        bar = tqdm(
            total=len(batches),
            initial=batch_pos,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            disable=not config.progress,
        )
        optimizer.zero_grad(set_to_none=True)

        def encode_batch(b: int) -> dict[str, Any]:
            prepared = [inputs.prepare(train[i]) for i in batches[b]]  # noqa: B023
            encoded = [encode_example(processor, p.frames, p.prompt, p.target) for p in prepared]
            return collate(encoded, pad_token_id=pad_id)

        encoded_batches = _prefetch(encode_batch, range(batch_pos, len(batches)))
        while batch_pos < len(batches):
            window_start = batch_pos
            window_end = min(len(batches), window_start + config.grad_accum)
            n_micro = window_end - window_start
            window_losses = []
            for _ in range(window_start, window_end):
                batch = {k: v.to(device) for k, v in next(encoded_batches).items()}
                batch["pixel_values_videos"] = batch["pixel_values_videos"].to(dtype)
                loss = answer_loss(model, batch)
                (loss / n_micro).backward()
                window_losses.append(float(loss.detach()))
                bar.update(1)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            batch_pos = window_end
            global_step += 1
            step_loss = sum(window_losses) / len(window_losses)
            step_losses.append(step_loss)
            bar.set_postfix(loss=f"{step_loss:.4f}", step=global_step)
            if config.max_steps is not None and global_step >= config.max_steps:
                stop = True
                break
            if global_step % config.checkpoint_every == 0 and batch_pos < len(batches):
                save_checkpoint()
        encoded_batches.close()  # waits for a batch still being prepared
        bar.close()
        record = _evaluate_epoch(
            config,
            model,
            processor,
            val,
            inputs,
            evaluate=evaluate,
            epoch=epoch + 1,
            global_step=global_step,
            train_loss=_mean(step_losses[epoch * steps_per_epoch :]),
        )
        history.append(record)
        if not val:
            better = True  # nothing to compare: keep the latest adapter
        else:
            better = best["accuracy"] is None or (record.val_accuracy or 0.0) > best["accuracy"]
        if better:
            with st.atomic_dir(out / st.BEST_DIR) as tmp:
                _save_adapter(model, processor, tmp)
                st.write_json(
                    tmp / st.RUN_INFO_FILE,
                    {
                        "config": config.to_dict(),
                        "frames": _frame_options(config),
                        "epoch": record.epoch,
                        "global_step": global_step,
                        "val_accuracy": record.val_accuracy,
                        "val_metrics": record.val_metrics,
                        "base": str(config.base.resolve()),
                    },
                )
            best = {"epoch": record.epoch, "accuracy": record.val_accuracy}
        if on_epoch is not None:
            on_epoch(record)
        epoch += 1
        batch_pos = 0
        save_checkpoint(finished=epoch >= config.epochs or stop)

    result = TrainResult(
        out_dir=out,
        best_dir=out / st.BEST_DIR,
        best_epoch=int(best["epoch"]),
        best_accuracy=best["accuracy"],
        global_step=global_step,
        history=tuple(history),
        step_losses=tuple(step_losses),
        resumed=resumed,
    )
    st.write_json(out / st.RESULT_FILE, result.to_dict())
    return result


def _prefetch(fn: Callable[[int], Any], indices: range) -> Generator[Any, None, None]:
    """``fn(i)`` for each index, in order, the next one computed in a worker thread meanwhile.

    Frames and processor work (CPU) overlap the model step (GPU). Closing the
    generator waits for the pending call, so nothing runs on after it.
    """
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sft-prefetch")
    it = iter(indices)
    pending = None
    try:
        first = next(it, None)
        if first is None:
            return
        pending = pool.submit(fn, first)
        for i in it:
            current, pending = pending, pool.submit(fn, i)
            yield current.result()
        current, pending = pending, None
        yield current.result()
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):  # the run is ending: only wait for it
                pending.result()
        pool.shutdown(wait=True)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _check_fingerprint(config: SftConfig, recorded: dict[str, Any], path: Path) -> None:
    current = config.fingerprint()
    differ = sorted(k for k in set(current) | set(recorded) if current.get(k) != recorded.get(k))
    if differ:
        detail = ", ".join(
            f"{k}: run has {recorded.get(k)!r}, now {current.get(k)!r}" for k in differ
        )
        raise AdapterError(
            f"{path}: this run folder was trained with other options ({detail}); "
            "expected the same options to resume, or a new --out folder"
        )


def _load_model(config: SftConfig, *, device: Any, dtype: Any) -> tuple[Any, Any]:
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    processor = AutoProcessor.from_pretrained(config.base)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(config.base, dtype=dtype)
    model.to(device)
    peft_model = add_lora(
        model,
        r=config.lora_r,
        alpha=config.lora_alpha,
        dropout=config.lora_dropout,
        target_modules=config.target_modules,
        gradient_checkpointing=config.gradient_checkpointing,
    )
    return peft_model, processor


def add_lora(
    model: Any,
    *,
    r: int,
    alpha: int,
    dropout: float,
    target_modules: tuple[str, ...],
    gradient_checkpointing: bool = False,
) -> Any:
    """Wrap a Qwen2.5-VL model in a peft LoRA model ready to train (base weights frozen).

    ``target_modules`` name linear layers (the defaults ``q/k/v/o_proj`` exist in
    the language model only; the vision tower's are ``qkv`` / ``proj``).
    ``gradient_checkpointing`` recomputes the language model's activations in
    the backward pass (non-reentrant), trading about a third more compute for
    most of the memory. The frozen vision tower is never back-propagated.
    """
    from peft import LoraConfig, get_peft_model

    model.config.use_cache = False
    if getattr(model, "is_gradient_checkpointing", False):
        model.gradient_checkpointing_disable()
    lora = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(target_modules),
        task_type="CAUSAL_LM",
    )
    try:
        # wrapped before checkpointing is on: peft would hook the input embeddings otherwise
        peft_model = get_peft_model(model, lora)
    except ValueError as exc:
        raise AdapterError(f"target_modules: {target_modules} ({exc})") from exc
    if gradient_checkpointing:
        enable_checkpointing(model)
    if not any(p.requires_grad for p in peft_model.parameters()):
        raise AdapterError(f"target_modules: {target_modules} matched no layer of the model")
    return peft_model


def enable_checkpointing(model: Any) -> None:
    """Non-reentrant gradient checkpointing of ``model`` without input-gradient hooks.

    transformers (and peft) hook every input embedding to require grad when
    checkpointing is switched on -- the vision tower's patch embedding too,
    which makes autograd record and back-propagate the whole frozen vision
    tower (at the paper's input size: 62,720 patches through 32 blocks, most
    of the step's time and memory). Non-reentrant checkpointing needs no such
    hook (the LoRA weights inside the checkpointed layers carry the graph), so
    the hooks are removed again.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    base.disable_input_require_grads()


def _load_checkpoint(
    model: Any, optimizer: Any, scheduler: Any, ckpt: Path, *, device: Any
) -> None:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = ckpt / "adapter_model.safetensors"
    if not weights.is_file():
        raise AdapterError(f"{weights}: expected the checkpoint's adapter weights")
    set_peft_model_state_dict(model, load_file(str(weights), device=str(device)))
    saved = torch.load(ckpt / st.TRAINER_STATE_FILE, map_location=device, weights_only=False)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["torch_rng"].cpu())
    if saved.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in saved["cuda_rng"]])


def _frame_options(config: SftConfig) -> dict[str, Any]:
    """The frame options of the Qwen adapter that show the model what training showed it."""
    from vlm_adapters.qwen import FRAME_OPTIONS

    options = config.qwen_options()
    out: dict[str, Any] = {}
    for key in FRAME_OPTIONS:
        value = getattr(options, key)
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def _evaluate_epoch(
    config: SftConfig,
    model: Any,
    processor: Any,
    val: list[SftExample],
    inputs: ExampleInputs,
    *,
    evaluate: Evaluator | None,
    epoch: int,
    global_step: int,
    train_loss: float | None,
) -> EpochRecord:
    if not val or evaluate is None:
        return EpochRecord(
            epoch=epoch, global_step=global_step, train_loss=train_loss, val_accuracy=None
        )
    name = f"qwen2.5-vl:{config.base}+lora:{config.out / st.BEST_DIR}@epoch{epoch}"
    records = generate_predictions(
        model,
        processor,
        val,
        setting=config.setting,
        options=config.qwen_options(),
        model_name=name,
        read_volume=inputs.read_volume,
        progress=config.progress,
    )
    eval_dir = config.out / st.EVAL_DIR
    pred_path = eval_dir / f"epoch-{epoch:03d}.predictions.jsonl"
    st.write_lines(pred_path, [r.to_json() for r in records])
    metrics = dict(evaluate(config.dataset, "val", records))
    accuracy = metrics.get("accuracy")
    if (
        isinstance(accuracy, bool)
        or not isinstance(accuracy, int | float)
        or not 0.0 <= float(accuracy) <= 1.0
    ):
        raise AdapterError(
            f"evaluate({config.dataset}, 'val', ...): expected a dict with 'accuracy' "
            f"a number in [0, 1], got {accuracy!r}"
        )
    metrics["accuracy"] = float(accuracy)
    st.write_json(eval_dir / f"epoch-{epoch:03d}.metrics.json", metrics)
    return EpochRecord(
        epoch=epoch,
        global_step=global_step,
        train_loss=train_loss,
        val_accuracy=metrics.get("accuracy"),
        val_metrics=metrics,
        predictions=str(pred_path),
    )
