# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Network contract: shapes, padding/cropping, gradients, determinism, cost volumes."""

import pytest
import torch

from thermostereo_ros.model import build_model
from thermostereo_ros.model.cost_volume import (
    concat_volume, correlation_volume, groupwise_correlation_volume)
from thermostereo_ros.model.refinement import convex_upsample

TINY = {
    'thermostereo_rt': dict(max_disparity=32, base_channels=4, feature_channels=8,
                            aggregation_channels=8, refinement_channels=4),
    'teacher': dict(max_disparity=32, base_channels=4, feature_channels=8, groups=2,
                    concat_channels=2, volume_channels=4, refinement_channels=4),
}
ARCHS = sorted(TINY)


def _pair(h, w, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(1, 1, h, w, generator=gen), torch.rand(1, 1, h, w, generator=gen)


def _tiny(arch, **kw):
    torch.manual_seed(0)
    return build_model(arch, dict(TINY[arch], **kw))


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('refine', [True, False])
def test_train_outputs_cover_input_and_gradients_reach_every_parameter(arch, refine):
    model = _tiny(arch, use_refinement=refine).train()
    left, right = _pair(97, 161)
    outputs = model(left, right)
    assert isinstance(outputs, list) and len(outputs) >= 1
    for out in outputs:
        assert out.shape == (1, 1, 97, 161)
    sum(out.mean() for out in outputs).backward()
    # A logit head's bias shifts every disparity logit alike and softmax is shift-invariant,
    # so its gradient is zero up to rounding: those biases cannot be required to move.
    unreached = [n for n, p in model.named_parameters()
                 if (p.grad is None or not torch.any(p.grad != 0))
                 and not (n.startswith('heads.') and n.endswith('.bias'))]
    assert not unreached


@pytest.mark.parametrize('arch', ARCHS)
def test_eval_outputs_and_ranges(arch):
    model = _tiny(arch).eval()
    with torch.no_grad():
        disp, conf = model(*_pair(97, 161))
    assert disp.shape == conf.shape == (1, 1, 97, 161)
    assert disp.dtype == torch.float32 and bool((disp >= 0).all())
    assert bool((conf >= 0).all()) and bool((conf <= 1).all())
    expected = dict(TINY[arch], use_refinement=True)
    if arch == 'thermostereo_rt':
        # The defaults keep old checkpoints loadable.
        expected.update(normalize_features=False, sky_head=False, shared_filter=0)
    assert model.config == expected


def test_shared_filter_starts_as_a_no_op_and_then_learns():
    base = _tiny('thermostereo_rt').eval()
    grown = _tiny('thermostereo_rt', shared_filter=4)
    missing = grown.load_state_dict(base.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith('aggregation.shared.') for k in missing)
    left, right = _pair(64, 128)
    with torch.no_grad():
        assert torch.equal(base(left, right)[0], grown.eval()(left, right)[0])
    outputs = grown.train()(left, right)
    sum(o.mean() for o in outputs).backward()
    assert float(grown.aggregation.shared.out.weight.grad.abs().sum()) > 0


def test_padding_crop_is_exact():
    # The model replicate-pads 97x161 to 128x192 on the bottom/right. Feeding the already
    # padded image must therefore give the same internal computation, and the cropped
    # output must match exactly; cropping the wrong corner or padding top/left breaks this.
    model = _tiny('thermostereo_rt').eval()
    left, right = _pair(97, 161, seed=3)
    pad = (0, 192 - 161, 0, 128 - 97)
    left_p = torch.nn.functional.pad(left, pad, mode='replicate')
    right_p = torch.nn.functional.pad(right, pad, mode='replicate')
    with torch.no_grad():
        disp, conf = model(left, right)
        disp_p, conf_p = model(left_p, right_p)
    assert disp_p.shape == (1, 1, 128, 192)
    torch.testing.assert_close(disp, disp_p[..., :97, :161], rtol=0, atol=1e-5)
    torch.testing.assert_close(conf, conf_p[..., :97, :161], rtol=0, atol=1e-6)


def test_eval_is_deterministic():
    model = _tiny('thermostereo_rt').eval()
    left, right = _pair(64, 96)
    with torch.no_grad():
        first = model(left, right)
        second = model(left, right)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def _naive_shift(right, d, x):
    return right[:, :, :, x - d] if x - d >= 0 else torch.zeros_like(right[:, :, :, 0])


@pytest.mark.parametrize('disparities', [1, 4, 9])  # 9: more disparities than columns
def test_correlation_matches_naive_reference(disparities):
    gen = torch.Generator().manual_seed(1)
    left = torch.randn(2, 5, 3, 7, generator=gen)
    right = torch.randn(2, 5, 3, 7, generator=gen)
    ref = torch.zeros(2, disparities, 3, 7)
    for d in range(disparities):
        for x in range(7):
            ref[:, d, :, x] = (left[:, :, :, x] * _naive_shift(right, d, x)).sum(1) / 5
    torch.testing.assert_close(correlation_volume(left, right, disparities), ref)


def test_groupwise_and_concat_volumes_match_naive_reference():
    gen = torch.Generator().manual_seed(2)
    left = torch.randn(1, 6, 2, 5, generator=gen)
    right = torch.randn(1, 6, 2, 5, generator=gen)
    gwc = groupwise_correlation_volume(left, right, 3, groups=2)
    cat = concat_volume(left, right, 3)
    assert gwc.shape == (1, 2, 3, 2, 5) and cat.shape == (1, 12, 3, 2, 5)
    for d in range(3):
        for x in range(5):
            shifted = _naive_shift(right, d, x)
            for g in range(2):
                sl = slice(3 * g, 3 * g + 3)
                expected = (left[:, sl, :, x] * shifted[:, sl]).mean(1)
                torch.testing.assert_close(gwc[:, g, d, :, x], expected)
            torch.testing.assert_close(cat[:, 6:, d, :, x], shifted)
            torch.testing.assert_close(cat[:, :6, d, :, x], left[:, :, :, x])


def test_student_default_fits_parameter_budget():
    model = build_model('thermostereo_rt', {})
    assert sum(p.numel() for p in model.parameters()) <= 2_000_000


def test_invalid_config_rejected():
    with pytest.raises(ValueError):
        build_model('thermostereo_rt', {'max_disparity': 30})
    with pytest.raises(ValueError):
        build_model('no_such_net', {})
    with pytest.raises(TypeError):
        build_model('thermostereo_rt', {'bogus': 1})


def test_convex_upsampling_matches_a_per_pixel_reference():
    # The definition, one fine pixel at a time: a softmax over the 9 mask logits of its
    # sub-position weighs the 3x3 coarse neighbourhood (replicate-padded, scaled by factor).
    torch.manual_seed(0)
    factor, h, w = 2, 5, 7
    disparity = torch.rand(2, 1, h, w) * 40
    mask = torch.randn(2, 9 * factor * factor, h, w) * 3
    got = convex_upsample(disparity, mask, factor)
    padded = torch.nn.functional.pad(disparity * factor, (1, 1, 1, 1), mode='replicate')
    expected = torch.zeros(2, 1, h * factor, w * factor)
    for y in range(h):
        for x in range(w):
            window = padded[:, 0, y:y + 3, x:x + 3].reshape(2, 9)
            for sy in range(factor):
                for sx in range(factor):
                    logits = mask[:, [k * factor * factor + sy * factor + sx for k in range(9)],
                                  y, x]
                    expected[:, 0, y * factor + sy, x * factor + sx] = (
                        torch.softmax(logits, 1) * window).sum(1)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize('spread', [1.0, 60.0])
def test_regression_is_the_softmax_expectation_and_its_peak(spread):
    # The written-out softmax against torch.softmax, with logits as far apart as trained
    # networks produce (up to ~130 across the 48 candidates on validation pairs).
    from thermostereo_ros.model.regression import DisparityRegression

    torch.manual_seed(0)
    logits = torch.randn(2, 48, 6, 9) * spread
    disparity, confidence = DisparityRegression(48)(logits)
    prob = torch.softmax(logits, 1)
    candidates = torch.arange(48.0).view(1, -1, 1, 1)
    torch.testing.assert_close(disparity, (prob * candidates).sum(1, keepdim=True),
                               atol=2e-5, rtol=0)
    torch.testing.assert_close(confidence, prob.amax(1, keepdim=True), atol=1e-6, rtol=0)
