#!/usr/bin/env bash
# Segmenter on one GPU, within ten minutes: ~20 full-size phantoms (160x384x384),
# a seeded schedule of EPOCHS x 50 iterations of nnU-Net training (default U-Net width,
# AdamW: nnU-Net's SGD needs far more iterations than fit in minutes,
# docs/segmentation.md), with a MINUTES wall-clock stop on top so the script always
# fits its ten minutes (the log says how many epochs ran), Dice per region against the
# phantom truth and seconds per scan of inference (test-time mirroring on).
#
#   bash benchmarks/segmenter_gpu.sh                 # from the repository root
#   PYTHON=python OUT=/some/dir bash benchmarks/segmenter_gpu.sh
#
# PYTHON: the interpreter command (default: "uv run --frozen python"; needs
#   knee-segmenter and knee-volumes importable). WORK: scratch folder for the
#   cohort, nnU-Net folders and model (default /tmp/segmenter_gpu, ~6 GB).
# OUT: where the small results go (summary.json, dice.png, dice*.parquet, log).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-"uv run --frozen python"}
WORK=${WORK:-/tmp/segmenter_gpu}
OUT=${OUT:-runs/segmenter_gpu}
EPOCHS=${EPOCHS:-40}
MINUTES=${MINUTES:-3.5}
SEED=${SEED:-0}
mkdir -p "$OUT"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi not available"
nproc
# torch.compile would spend minutes compiling for a few minutes of training
export nnUNet_compile=${nnUNet_compile:-false}

start=$(date +%s)
# 16 training + 4 test phantoms; 8 nnU-Net worker processes (their augmentation is unseeded:
# a GPU run is not bitwise reproducible, docs/segmentation.md); 50 iterations per epoch
timeout 570 $PYTHON benchmarks/segmenter_quality.py \
    --shape 160 384 384 --train 16 --test 4 --epochs "$EPOCHS" --minutes "$MINUTES" \
    --iterations 50 --seed "$SEED" \
    --device cuda --full-width --num-processes 8 --cohort-workers 8 --mirroring --optimizer adam \
    --out "$WORK" 2>&1 | grep -v -E "it/s\]|s/it\]" | tee "$OUT/segmenter_gpu.log"
end=$(date +%s)
echo "wall time: $((end - start)) s" | tee -a "$OUT/segmenter_gpu.log"
cp "$WORK"/summary.json "$WORK"/dice.png "$WORK"/dice.parquet "$WORK"/dice_atlas.parquet "$OUT"/
cp "$WORK"/model/*/fold_all/progress.png "$OUT"/training_progress.png 2>/dev/null || true
