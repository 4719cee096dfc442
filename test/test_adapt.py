# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Adaptation without GT (training/adapt.py): the losses, what learns, and `thermostereo adapt`."""

import pytest
import torch

from node_helpers import tiny_checkpoint
from thermostereo_ros.cli import main as cli
from thermostereo_ros.data import ms2_writer
from thermostereo_ros.data.normalization import normalize_pair
from thermostereo_ros.inference.checkpoint import build_from_checkpoint, load_checkpoint
from thermostereo_ros.inference.shifted_texture import synthetic_pair
from thermostereo_ros.training import adapt


def _plane(d=12, h=64, w=160):
    left, right = normalize_pair(*synthetic_pair(h, w, disparity=d))
    return torch.from_numpy(left)[None, None], torch.from_numpy(right)[None, None]


def test_the_true_disparity_has_the_lowest_photometric_loss():
    left, right = _plane(12)
    losses = {d: float(adapt.photometric_loss(left, right, torch.full_like(left, float(d))))
              for d in (0, 6, 11, 12, 13, 18)}
    assert losses[12] < 0.01
    assert all(losses[d] > 10 * losses[12] for d in losses if d != 12)


def test_warp_marks_pixels_that_come_from_outside_the_frame():
    left, right = _plane(12)
    _, in_frame = adapt.warp_right_to_left(right, torch.full_like(left, 12.0))
    assert float(in_frame[..., :12].sum()) == 0 and bool((in_frame[..., 12:] == 1).all())


def test_smoothness_is_zero_for_a_constant_disparity_and_grows_with_noise():
    left, _ = _plane()
    flat = torch.full_like(left, 7.0)
    assert float(adapt.smoothness_loss(flat, left)) == 0.0
    noisy = flat + torch.rand_like(flat)
    assert float(adapt.smoothness_loss(noisy, left)) > 0.0


@pytest.fixture(scope='module')
def ms2_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('ms2')
    splits = ms2_writer.write_dataset(str(root), 1, 4, height=48, width=96, max_disparity=16)
    return root, splits


def test_adapt_cli_learns_only_aggregation_and_refinement(ms2_root, tmp_path):
    root, splits = ms2_root
    (split,) = [name for name, seqs in splits.items() if seqs]
    source = tiny_checkpoint(tmp_path)
    out = tmp_path / 'adapted.safetensors'
    assert cli.main(['adapt', '--data', 'ms2', '--root', str(root), '--split', split,
                     '--checkpoint', str(source), '--out', str(out), '--steps', '3',
                     '--lr', '1e-3']) == 0
    before, _ = build_from_checkpoint(str(source))
    after, meta = build_from_checkpoint(str(out))
    adapted = meta['provenance']['adapted']
    assert adapted['steps_done'] == 3 and adapted['pairs'] == 4 and adapted['data'] == 'ms2'
    assert adapted['started_from']['path'] == str(source)
    old, new = before.state_dict(), after.state_dict()
    frozen = [n for n in old if not n.startswith(adapt.ADAPTED_MODULES) or 'running_' in n
              or 'num_batches' in n]  # BatchNorm statistics stay as they were everywhere
    assert [n for n in frozen if not torch.equal(old[n], new[n])] == []
    moved = [n for n in old if n not in frozen and not torch.equal(old[n], new[n])]
    assert moved and all(n.startswith(adapt.ADAPTED_MODULES) for n in moved)
    assert load_checkpoint(str(out))[1]['normalization'] == meta['normalization']


def test_adapt_cli_refuses_an_empty_source(tmp_path, capsys):
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert cli.main(['adapt', '--data', 'bag', '--root', str(empty), '--out',
                     str(tmp_path / 'x.safetensors')]) == 1
    assert 'adapt: error' in capsys.readouterr().err
