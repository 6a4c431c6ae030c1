"""Training options: mirror axes (only the patient's left-right axis, mapped through nnU-Net's reader and transpose) and optimizers."""

from __future__ import annotations

import itertools
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from knee_segmenter import MIRRORING_MODES, OPTIMIZERS, balanced_class_weights, mirror_axes_for


def _nnunet_array(nifti: np.ndarray, transpose_forward: tuple[int, ...]) -> np.ndarray:
    """What nnU-Net trains on: its readers reverse the NIfTI axes, preprocessing transposes them."""
    return nifti.transpose(2, 1, 0).transpose(transpose_forward)


@pytest.mark.parametrize("transpose_forward", list(itertools.permutations(range(3))))
@pytest.mark.parametrize("lr_axis", [0, 1, 2])
def test_left_right_mirror_of_the_patch_is_left_right_mirror_of_the_scan(
    transpose_forward, lr_axis
):
    nifti = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    (axis,) = mirror_axes_for(
        "left-right", lr_axis=lr_axis, transpose_forward=list(transpose_forward), dim=3
    )
    mirrored_patch = np.flip(_nnunet_array(nifti, transpose_forward), axis)
    np.testing.assert_array_equal(
        mirrored_patch, _nnunet_array(np.flip(nifti, lr_axis), transpose_forward)
    )


@pytest.mark.parametrize("transpose_forward", list(itertools.permutations(range(3))))
@pytest.mark.parametrize("lr_axis", [0, 1, 2])
def test_2d_patches_mirror_left_right_only_when_it_lies_in_the_slice(transpose_forward, lr_axis):
    nifti = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    volume = _nnunet_array(nifti, transpose_forward)  # 2D patches are volume[i]
    axes = mirror_axes_for(
        "left-right", lr_axis=lr_axis, transpose_forward=list(transpose_forward), dim=2
    )
    flipped = _nnunet_array(np.flip(nifti, lr_axis), transpose_forward)
    if axes is None:  # left-right runs across slices: no 2D flip can do it
        np.testing.assert_array_equal(flipped, volume[::-1])
    else:
        (axis,) = axes
        np.testing.assert_array_equal(np.flip(volume[0], axis), flipped[0])


def test_other_modes():
    assert mirror_axes_for("all", lr_axis=0, transpose_forward=[2, 0, 1], dim=3) == (0, 1, 2)
    assert mirror_axes_for("none", lr_axis=0, transpose_forward=[2, 0, 1], dim=3) is None
    assert mirror_axes_for("left-right", lr_axis=None, transpose_forward=[2, 0, 1], dim=3) is None
    assert MIRRORING_MODES == ("left-right", "none", "all")
    with pytest.raises(ValueError, match="expected one of left-right, none, all"):
        mirror_axes_for("sideways", lr_axis=0, transpose_forward=[0, 1, 2], dim=3)


def test_optimizers_and_their_default_learning_rates():
    assert OPTIMIZERS == {
        "sgd": 1e-2,
        "adam": 1e-3,
    }  # nnU-Net's SGD; AdamW as nnUNetTrainerAdam1en3


def test_docstring_examples_hold():
    import doctest

    from knee_segmenter import export, training_options

    for module in (training_options, export):
        assert doctest.testmod(module).failed == 0


def test_bfloat16_forward_runs_the_convolutions_in_bf16_and_returns_float32():
    """The ``precision="bf16"`` hooks: convolutions see bfloat16, the caller gets float32."""
    import torch
    from knee_segmenter.trainer import _bfloat16_forward

    net = torch.nn.Sequential(torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.Conv3d(4, 2, 1))
    seen: list[torch.dtype] = []
    net[0].register_forward_hook(lambda m, a, out: seen.append(out.dtype))
    x = torch.randn(1, 1, 6, 8, 8)
    reference = net(x)
    handles = _bfloat16_forward(net)
    out = net(x)
    assert seen == [torch.float32, torch.bfloat16]
    assert out.dtype == torch.float32 and out.shape == reference.shape
    torch.testing.assert_close(out, reference, atol=0.05, rtol=0.05)  # bfloat16: 8 bits of mantissa
    out.sum().backward()  # gradients reach the float32 weights
    assert net[0].weight.grad is not None and net[0].weight.grad.dtype == torch.float32
    assert net.state_dict().keys() == {"0.weight", "0.bias", "1.weight", "1.bias"}
    for h in handles:
        h.remove()
    assert net(x).dtype == torch.float32 and seen[-1] == torch.float32


def test_native_bf16_is_read_from_the_cpu_flags():
    import doctest

    from knee_segmenter import devices

    assert doctest.testmod(devices).failed == 0
    amd = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"
    assert devices.cpu_has_native_bf16(amd)
    assert devices.cpu_has_native_bf16("flags : sse amx_bf16 amx_tile")
    assert not devices.cpu_has_native_bf16("flags : sse avx2 avx512f")
    assert not devices.cpu_has_native_bf16("model name : avx512_bf16 in a name, not a flag")
    assert isinstance(devices.cpu_has_native_bf16(), bool)  # this machine, whatever it is


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**7), min_size=1, max_size=40))
def test_balanced_class_weights_lift_only_the_rare_labels(counts):
    """Weight 1 for background, empty labels and labels at or above the foreground median;
    rarer labels weigh more the rarer they are, never over the cap."""
    weights = balanced_class_weights(counts, cap=10.0)
    assert len(weights) == len(counts) and weights[0] == 1.0
    present = sorted(c for c in counts[1:] if c > 0)
    for c, w in zip(counts[1:], weights[1:], strict=True):
        assert 1.0 <= w <= 10.0
        if c == 0 or c >= statistics.median(present):
            assert w == 1.0
    ranked = sorted((c, w) for c, w in zip(counts[1:], weights[1:], strict=True) if c > 0)
    assert all(w1 >= w2 for (_, w1), (_, w2) in itertools.pairwise(ranked))
