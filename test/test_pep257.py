# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""pep257 (pydocstyle) on the public API, as ament_pep257 checks it."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
# pep257 convention as ament_pep257 uses it; public classes, methods and functions must have
# docstrings (D101-D103), modules are checked below, __init__ and magic methods are exempt.
IGNORE = 'D100,D104,D105,D107'


def test_pep257_clean():
    result = subprocess.run(
        [sys.executable, '-m', 'pydocstyle', '--convention=pep257', '--add-ignore=' + IGNORE,
         'thermostereo_ros'],
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
