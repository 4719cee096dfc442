# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The user docs: their Python snippets run, and each stays short enough to read."""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = [ROOT / 'README.md'] + sorted((ROOT / 'docs').glob('*.md'))
# The reference docs describe the present; the dated notebooks live in docs/history/.
MAX_LINES = 400


def _snippets():
    for path in (ROOT / 'README.md', ROOT / 'docs' / 'ARCHITECTURE.md'):
        for index, code in enumerate(re.findall(r'```python\n(.*?)```', path.read_text(),
                                                re.S)):
            if re.search(r'^(from|import) thermostereo_ros', code, re.M):
                yield pytest.param(code, id=f'{path.name}-{index}')


@pytest.mark.parametrize('code', list(_snippets()))
def test_every_snippet_that_uses_the_package_runs(code):
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_at_least_one_snippet_is_checked():
    assert list(_snippets())


@pytest.mark.parametrize('path', [p for p in DOCS if p.parent.name == 'docs'],
                         ids=lambda p: p.name)
def test_reference_docs_stay_short(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES, \
        f'{path.name}: move dated detail to docs/history/'


def test_every_relative_link_in_the_docs_resolves():
    missing = []
    for path in DOCS + sorted((ROOT / 'docs' / 'history').glob('*.md')):
        for target in re.findall(r'\]\(([^)#\s]+)(?:#[^)]*)?\)', path.read_text()):
            if re.match(r'[a-z]+://', target):
                continue
            if not (path.parent / target).exists():
                missing.append(f'{path.relative_to(ROOT)}: {target}')
    assert missing == []
