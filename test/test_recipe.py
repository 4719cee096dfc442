# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Training recipes: the shipped weights' lineage as one command, parsed, built, dry-run."""

import pathlib

import pytest

from thermostereo_ros.cli.main import main
from thermostereo_ros.inference.checkpoint import load_checkpoint
from thermostereo_ros.model import build_model
from thermostereo_ros.training import recipe as recipes

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHIPPED = ROOT / 'thermostereo_ros' / 'weights' / 'thermostereo_rt_default.safetensors'


@pytest.mark.parametrize('path', sorted((ROOT / 'config' / 'recipes').glob('*.yaml')),
                         ids=lambda p: p.stem)
def test_every_recipe_parses_and_each_train_phase_builds(path):
    recipe = recipes.load_recipe(path)
    for phase in recipe['phases']:
        if 'train' in phase:
            config = recipes.phase_config(recipe, phase, pathlib.Path('out'), None)
            build_model(config['arch'], dict(config['model'],
                                             max_disparity=config['max_disparity']))


def test_the_shipped_recipe_ends_in_the_shipped_architecture():
    recipe = recipes.load_recipe(recipes.find_recipe('shipped'))
    last_train = [p for p in recipe['phases'] if 'train' in p][-1]
    config = recipes.phase_config(recipe, last_train, pathlib.Path('out'), None)
    _, meta = load_checkpoint(SHIPPED)
    shipped = meta['config']
    assert config['model']['aggregation_channels'] == shipped['aggregation_channels']
    assert config['model']['normalize_features'] == shipped['normalize_features']
    assert config['max_disparity'] == shipped['max_disparity']
    assert recipe['phases'][-1]['sky_head']['threshold'] == \
        meta['provenance']['sky_head']['threshold']
    steps = sum(p['train']['optim']['steps'] for p in recipe['phases'] if 'train' in p)
    assert steps == 16000 + 39000  # docs/TRAINING.md: 39,000 steps after the first 16,000


def test_bad_recipes_are_named(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('phases:\n  - {name: a, train: {optim: {stpes: 3}}}\n')
    with pytest.raises(KeyError, match='stpes'):
        recipes.load_recipe(bad)
    bad.write_text('phases:\n  - {name: a}\n')
    with pytest.raises(ValueError, match='exactly one of'):
        recipes.load_recipe(bad)
    with pytest.raises(FileNotFoundError, match='shipped'):
        recipes.find_recipe('no_such_recipe')


def test_train_recipe_shipped_dry_run_runs_every_phase_and_continues(tmp_path, capsys):
    cache = tmp_path / 'cache'
    assert main(['synth', '--cache', str(cache), '--pairs', '2', '--workers', '1',
                 '--renderer-version', '2']) == 0
    out = tmp_path / 'run'
    args = ['train', '--recipe', 'shipped', '--out', str(out), '--cache', str(cache),
            '--steps', '1', '--batch-size', '1', '--val-pairs', '0', '--sky-steps', '1',
            '--no-progress', '--device', 'cpu']
    assert main(args) == 0
    names = recipes.phase_names(recipes.load_recipe(recipes.find_recipe('shipped')))
    for name in names:
        assert (out / name / 'final.safetensors').is_file(), name
    _, meta = load_checkpoint(out / names[-1] / 'final.safetensors')
    assert meta['config']['aggregation_channels'] == 24 and meta['config']['sky_head']
    assert meta['provenance']['sky_head']['threshold'] == 2.0
    capsys.readouterr()
    assert main(args) == 0  # everything done: every phase is skipped
    assert capsys.readouterr().out.count(' done (') == len(names)
