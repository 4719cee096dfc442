# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""pep257 (pydocstyle) on the public API, with ament_pep257's default ignores."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
# ament_pep257's defaults, plus D100-D107 limited to public API by pydocstyle itself.
IGNORE = 'D100,D101,D102,D103,D104,D105,D106,D107,D203,D212,D404'


def test_pep257_clean():
    result = subprocess.run(
        [sys.executable, '-m', 'pydocstyle', '--ignore=' + IGNORE, 'thermostereo_ros'],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, 'pydocstyle found problems:\n' + result.stdout + result.stderr


def test_public_modules_have_docstrings():
    """Every module of the package says in its docstring what it holds."""
    missing = []
    for path in sorted((ROOT / 'thermostereo_ros').rglob('*.py')):
        source = path.read_text()
        body = '\n'.join(line for line in source.splitlines() if not line.startswith('#'))
        if not body.lstrip().startswith(('"""', "'''")):
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, 'modules without a docstring: ' + ', '.join(missing)
