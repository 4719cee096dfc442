# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Every Python source carries the project's copyright and SPDX licence header."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEADER = ('# Copyright 2026 thermostereo_ros contributors',
          '# SPDX-License-Identifier: Apache-2.0')
FOLDERS = ('thermostereo_ros', 'test', 'launch', 'scripts')


def _sources():
    yield ROOT / 'setup.py'
    for folder in FOLDERS:
        yield from sorted((ROOT / folder).rglob('*.py'))


def test_copyright_headers():
    missing = []
    for path in _sources():
        lines = path.read_text().splitlines()
        if lines and lines[0].startswith('#!'):
            lines = lines[1:]
        if tuple(lines[:2]) != HEADER:
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, 'files without the licence header: ' + ', '.join(missing)
