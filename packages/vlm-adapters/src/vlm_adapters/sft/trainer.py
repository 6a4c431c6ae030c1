"""`train_lora`: LoRA supervised fine-tuning of a VLM (any :mod:`~vlm_adapters.sft.families` member)
on a dataset folder's train split, in stages: read progress, start, train an epoch, finish it."""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vlm_adapters.errors import AdapterError, needs_extra
from vlm_adapters.sft import state as st
from vlm_adapters.sft.config import SftConfig
from vlm_adapters.sft.evaluation import Evaluator, generate_predictions
from vlm_adapters.sft.examples import ExampleInputs, SftExample, load_examples
from vlm_adapters.sft.families import Family, Loaded, get_family
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

    ``best_dir`` is the adapter to use (``KIND:BASE+lora:<best_dir>``, KIND the family);
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
    with needs_extra("qwen"):  # torch: both model families' extras hold it
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


def _lr_lambda(
    total_steps: int, warmup_steps: int, schedule: str = "linear"
) -> Callable[[int], float]:
    """Linear warm-up, then linear or cosine decay to 0 at ``total_steps``."""

    def fn(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        done = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        if schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * done))
        return max(0.0, 1.0 - done)

    return fn


def _epoch_order(n: int, *, seed: int, epoch: int) -> list[int]:
    """The example order of one epoch: a function of (seed, epoch) only, so a resumed run replays it."""
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order


@dataclass
class _Run:
    """The state of one fine-tuning run, shared by its stages."""

    config: SftConfig
    family: Family
    loaded: Loaded
    model: Any
    params: list[Any]
    optimizer: Any
    scheduler: Any
    train: list[SftExample]
    val: list[SftExample]
    inputs: ExampleInputs
    device: Any
    dtype: Any
    steps_per_epoch: int
    resumed: bool
    epoch: int = 0
    batch_pos: int = 0
    global_step: int = 0
    history: list[EpochRecord] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=lambda: {"epoch": 0, "accuracy": None})

    @property
    def ckpt(self) -> Path:
        return self.config.out / st.CHECKPOINT_DIR


def train_lora(
    config: SftConfig,
    *,
    evaluate: Evaluator | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Fine-tune ``config.base`` (a ``config.family`` model) with LoRA on the train split of ``config.dataset``.

    One trainer for every family (:mod:`vlm_adapters.sft.families`). The loss
    covers the answer tokens only. After each epoch the model answers the val
    split (greedy, up to ``eval_limit`` questions) through its adapter's
    inference path, ``evaluate(dataset, "val", records)`` scores the replies
    (``reasonknee train vlm`` passes bench-metrics' scorer), and the adapter
    with the best ``metrics["accuracy"]`` so far is written to ``<out>/best``
    (the first epoch wins ties; with ``eval_limit=0`` or no val split the last
    epoch is kept). Validation needs ``evaluate``: without one, ``eval_limit``
    must be 0 (an :class:`AdapterError` otherwise). A resumable checkpoint
    (adapter, optimizer, scheduler, RNG, position in the epoch) is written
    every ``checkpoint_every`` optimizer steps and after each epoch; calling
    again with the same options continues from it, and returns the recorded
    result when the run had finished. Different options on an existing run
    folder raise :class:`AdapterError` naming them.
    """
    progress = _read_progress(config)
    if isinstance(progress, TrainResult):
        return progress
    run = _start_run(config, progress, evaluate=evaluate)
    run.model.train()
    stop = config.max_steps is not None and run.global_step >= config.max_steps
    while run.epoch < config.epochs and not stop:
        stop = _train_epoch(run)
        _finish_epoch(run, evaluate=evaluate, on_epoch=on_epoch, stop=stop)
    result = TrainResult(
        out_dir=config.out,
        best_dir=config.out / st.BEST_DIR,
        best_epoch=int(run.best["epoch"]),
        best_accuracy=run.best["accuracy"],
        global_step=run.global_step,
        history=tuple(run.history),
        step_losses=tuple(run.step_losses),
        resumed=run.resumed,
    )
    st.write_json(config.out / st.RESULT_FILE, result.to_dict())
    return result


def _read_progress(config: SftConfig) -> dict[str, Any] | TrainResult | None:
    """The checkpoint's recorded progress (options checked), the finished result, or ``None``."""
    out = config.out
    for name in (st.CHECKPOINT_DIR, st.BEST_DIR):
        st.recover_dir(out / name)
    path = out / st.CHECKPOINT_DIR / st.PROGRESS_FILE
    if not path.is_file():
        return None
    recorded: dict[str, Any] = st.read_json(path, what="training progress")
    _check_fingerprint(config, recorded.get("fingerprint", {}), path)
    if recorded.get("finished") and (out / st.RESULT_FILE).is_file():
        return TrainResult.from_dict(
            st.read_json(out / st.RESULT_FILE, what="result"), resumed=True
        )
    return recorded


def _start_run(
    config: SftConfig, progress: dict[str, Any] | None, *, evaluate: Evaluator | None
) -> _Run:
    """Examples, the model with LoRA, optimizer and schedule; the recorded state when resuming."""
    import torch

    if evaluate is None and config.eval_limit != 0:
        raise AdapterError(
            "train_lora: validation after each epoch (eval_limit="
            f"{config.eval_limit!r}) needs an evaluator: pass evaluate=... "
            "(e.g. reasonknee_train.evaluation.bench_evaluator) or set eval_limit=0"
        )
    family = get_family(config.family)
    if not config.base.is_dir():
        raise AdapterError(
            f"{config.base}: expected a {config.family} model folder (config.json, weights, tokenizer)"
        )
    common = dict(target_column=config.target_column, setting=config.setting)
    train = load_examples(config.dataset, "train", limit=config.train_limit, **common)
    if not train:
        raise AdapterError(
            f"{config.dataset / 'quintuples.parquet'}: the train split has no rows with a {config.target_column!r}"
        )
    val = []
    if config.eval_limit != 0:
        val = load_examples(config.dataset, "val", limit=config.eval_limit, **common)
    config.out.mkdir(parents=True, exist_ok=True)  # only once the inputs are known to be usable
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    device, dtype = resolve_device(config.device, config.dtype)
    loaded = family.load(config, device=device, dtype=dtype)
    model = add_lora(
        loaded.model,
        r=config.lora_r,
        alpha=config.lora_alpha,
        dropout=config.lora_dropout,
        target_modules=config.target_modules,
        modules_to_save=config.modules_to_save,
        gradient_checkpointing=config.gradient_checkpointing,
    )
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(math.ceil(len(train) / config.batch) / config.grad_accum)
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    warmup = round(config.warmup_ratio * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(total_steps, warmup, config.lr_schedule)
    )
    run = _Run(
        config=config,
        family=family,
        loaded=loaded,
        model=model,
        params=params,
        optimizer=optimizer,
        scheduler=scheduler,
        train=train,
        val=val,
        inputs=ExampleInputs(setting=config.setting, spec=loaded.spec, cache=config.frame_cache),
        device=device,
        dtype=dtype,
        steps_per_epoch=steps_per_epoch,
        resumed=progress is not None,
    )
    if progress is not None:
        _load_checkpoint(model, optimizer, scheduler, run.ckpt, device=device)
        run.epoch, run.batch_pos = progress["epoch"], progress["batch_pos"]
        run.global_step = progress["global_step"]
        run.history = [EpochRecord(**h) for h in progress["history"]]
        run.step_losses = list(progress["step_losses"])
        run.best = progress["best"]
    return run


def _save_checkpoint(run: _Run, *, finished: bool = False) -> None:
    """Adapter, optimizer, scheduler, RNG and position, written atomically to ``<out>/checkpoint``."""
    import torch

    with st.atomic_dir(run.ckpt) as tmp:
        run.model.save_pretrained(tmp)
        torch.save(
            {
                "optimizer": run.optimizer.state_dict(),
                "scheduler": run.scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
            tmp / st.TRAINER_STATE_FILE,
        )
        st.write_json(
            tmp / st.PROGRESS_FILE,
            {
                "fingerprint": run.config.fingerprint(),
                "epoch": run.epoch,
                "batch_pos": run.batch_pos,
                "global_step": run.global_step,
                "history": [asdict(h) for h in run.history],
                "step_losses": run.step_losses,
                "best": run.best,
                "finished": finished,
            },
        )


def _train_epoch(run: _Run) -> bool:
    """The optimizer steps of one epoch from ``run.batch_pos``; ``True`` when ``max_steps`` stops the run."""
    import torch
    from tqdm.auto import tqdm

    config, family = run.config, run.family
    order = _epoch_order(len(run.train), seed=config.seed, epoch=run.epoch)
    batches = [order[i : i + config.batch] for i in range(0, len(order), config.batch)]
    bar = tqdm(
        total=len(batches),
        initial=run.batch_pos,
        desc=f"epoch {run.epoch + 1}/{config.epochs}",
        disable=not config.progress,
    )
    run.optimizer.zero_grad(set_to_none=True)

    def encode_batch(b: int) -> dict[str, Any]:
        prepared = [run.inputs.prepare(run.train[i]) for i in batches[b]]
        return family.collate(run.loaded, [family.encode(run.loaded, p, config) for p in prepared])

    encoded_batches = _prefetch(encode_batch, range(run.batch_pos, len(batches)))
    stop = False
    try:
        while run.batch_pos < len(batches):
            window_end = min(len(batches), run.batch_pos + config.grad_accum)
            n_micro = window_end - run.batch_pos
            window_losses = []
            for _ in range(n_micro):
                batch = family.to_device(next(encoded_batches), device=run.device, dtype=run.dtype)
                loss = answer_loss(run.model, batch)
                (loss / n_micro).backward()
                window_losses.append(float(loss.detach()))
                bar.update(1)
            torch.nn.utils.clip_grad_norm_(run.params, 1.0)
            run.optimizer.step()
            run.scheduler.step()
            run.optimizer.zero_grad(set_to_none=True)
            run.batch_pos = window_end
            run.global_step += 1
            step_loss = sum(window_losses) / len(window_losses)
            run.step_losses.append(step_loss)
            bar.set_postfix(loss=f"{step_loss:.4f}", step=run.global_step)
            if config.max_steps is not None and run.global_step >= config.max_steps:
                stop = True
                break
            if run.global_step % config.checkpoint_every == 0 and run.batch_pos < len(batches):
                _save_checkpoint(run)
    finally:
        encoded_batches.close()  # waits for a batch still being prepared
        bar.close()
    return stop


def _finish_epoch(
    run: _Run,
    *,
    evaluate: Evaluator | None,
    on_epoch: Callable[[EpochRecord], None] | None,
    stop: bool,
) -> None:
    """Validate, keep the adapter in ``best/`` when it is better, checkpoint the end of the epoch."""
    config = run.config
    record = _evaluate_epoch(
        run,
        evaluate=evaluate,
        epoch=run.epoch + 1,
        train_loss=_mean(run.step_losses[run.epoch * run.steps_per_epoch :]),
    )
    run.history.append(record)
    if not run.val:
        better = True  # nothing to compare: keep the latest adapter
    else:
        acc = run.best["accuracy"]
        better = acc is None or (record.val_accuracy or 0.0) > acc
    if better:
        with st.atomic_dir(config.out / st.BEST_DIR) as tmp:
            run.model.save_pretrained(tmp)
            run.loaded.processor.save_pretrained(tmp)
            st.write_json(
                tmp / st.RUN_INFO_FILE,
                {
                    "family": config.family,
                    "config": config.to_dict(),
                    "frames": run.family.inference_options(config),
                    "epoch": record.epoch,
                    "global_step": run.global_step,
                    "val_accuracy": record.val_accuracy,
                    "val_metrics": record.val_metrics,
                    "base": str(config.base.resolve()),
                },
            )
        run.best = {"epoch": record.epoch, "accuracy": record.val_accuracy}
    if on_epoch is not None:
        on_epoch(record)
    run.epoch += 1
    run.batch_pos = 0
    _save_checkpoint(run, finished=run.epoch >= config.epochs or stop)


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
    differ = config.differences(recorded)
    if differ:
        current = config.fingerprint()
        detail = ", ".join(
            f"{k}: run has {recorded.get(k)!r}, now {current.get(k)!r}" for k in differ
        )
        raise AdapterError(
            f"{path}: this run folder was trained with other options ({detail}); "
            "expected the same options to resume, or a new --out folder"
        )


def add_lora(
    model: Any,
    *,
    r: int,
    alpha: int,
    dropout: float,
    target_modules: tuple[str, ...],
    modules_to_save: tuple[str, ...] = (),
    gradient_checkpointing: bool = False,
) -> Any:
    """Wrap a model in a peft LoRA model ready to train (base weights frozen).

    ``target_modules`` name linear layers (Qwen2.5-VL: the defaults ``q/k/v/o_proj``
    exist in the language model only; the vision tower's are ``qkv`` / ``proj``).
    ``modules_to_save`` name modules trained in full (copies saved with the
    adapter; Med3DVLM's recipe: vision tower, projector, embeddings, LM head).
    ``gradient_checkpointing`` recomputes the language model's activations in
    the backward pass (non-reentrant), trading about a third more compute for
    most of the memory. The frozen vision tower is never back-propagated.
    """
    with needs_extra("qwen"):
        from peft import LoraConfig, get_peft_model

    model.config.use_cache = False
    if getattr(model, "is_gradient_checkpointing", False):
        model.gradient_checkpointing_disable()
    lora = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(target_modules),
        modules_to_save=list(modules_to_save) or None,
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


def _evaluate_epoch(
    run: _Run, *, evaluate: Evaluator | None, epoch: int, train_loss: float | None
) -> EpochRecord:
    config = run.config
    if not run.val or evaluate is None:
        return EpochRecord(
            epoch=epoch, global_step=run.global_step, train_loss=train_loss, val_accuracy=None
        )
    name = f"{config.family}:{config.base}+lora:{config.out / st.BEST_DIR}@epoch{epoch}"
    adapter = run.family.adapter(run.model, run.loaded, config, name)
    records = generate_predictions(
        run.model,
        adapter,
        run.val,
        setting=config.setting,
        read_volume=run.inputs.read_volume,
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
        global_step=run.global_step,
        train_loss=train_loss,
        val_accuracy=metrics.get("accuracy"),
        val_metrics=metrics,
        predictions=str(pred_path),
    )
