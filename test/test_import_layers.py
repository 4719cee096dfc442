# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Imports point one way, and no two modules import each other (directly or around a loop).

Every import counts, including those inside functions: a lazy import is still a dependency.
"""

import ast
import pathlib
from typing import Dict, List, Set

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'thermostereo_ros'
# Lower layers never import higher ones. Equal layers may import each other (but not in a loop).
LAYERS = {'geometry': 0, 'model': 0, 'data': 1, 'inference': 2, 'evaluation': 3,
          'training': 3, 'bags': 3, 'ros': 4, 'tools': 5, 'cli': 6}


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imports(path: pathlib.Path) -> List[tuple]:
    """Return (line, imported module) for every thermostereo_ros import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from thermostereo_ros.ros import node` imports the submodule `node`.
            names = [node.module] + [f'{node.module}.{a.name}' for a in node.names]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.startswith('thermostereo_ros.')]
    return found


def _graph() -> Dict[str, Set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob('*.py')}
    graph: Dict[str, Set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for _, target in _imports(path):
            if target in modules and target != name and not name.startswith(target + '.'):
                graph[name].add(target)
    return graph


def _layer(module: str) -> int:
    parts = module.split('.')
    return LAYERS.get(parts[1], -1) if len(parts) > 1 else -1


def test_every_package_has_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if (p / '__init__.py').is_file()}
    assert packages <= set(LAYERS), f'give these a layer: {sorted(packages - set(LAYERS))}'


def test_no_import_points_upwards():
    upward = []
    for path in PACKAGE.rglob('*.py'):
        source = _module_name(path)
        for line, target in _imports(path):
            if _layer(target) > _layer(source) >= 0:
                upward.append(f'{path.relative_to(PACKAGE.parent)}:{line} imports {target}')
    assert upward == [], '\n'.join(upward)


def test_no_import_cycles():
    graph, state, cycles = _graph(), {}, []

    def visit(module: str, stack: List[str]) -> None:
        state[module] = 'open'
        for target in sorted(graph[module]):
            if state.get(target) == 'open':
                cycles.append(' -> '.join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[module] = 'done'

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == [], '\n'.join(cycles)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The parser finds imports inside functions, so the layer test cannot pass vacuously."""
    module = tmp_path / 'probe.py'
    module.write_text('def f():\n    from thermostereo_ros.tools import demo\n')
    assert _imports(module) == [(2, 'thermostereo_ros.tools'), (2, 'thermostereo_ros.tools.demo')]
