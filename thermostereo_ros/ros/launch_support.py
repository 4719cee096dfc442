# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""What launch/thermostereo.launch.py decides, as pure functions (no launch import here).

The launch file only reads its arguments and calls these, so the decisions (which parameters
override the params file, whether RViz can start, what RViz subscribes to) have unit tests
that run without the launch packages.
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Dict, Iterable, List, Mapping, Optional

from ament_index_python.packages import get_package_prefix
import yaml

from thermostereo_ros.ros.dds import profile_environment, profile_variables
from thermostereo_ros.ros.parameters import DEFAULTS, stereo_image_proc_warnings

# Launch arguments that override the params file, but only when the user gives them.
OVERRIDE_ARGUMENTS = ('model_path', 'max_disparity', 'device', 'approximate_sync',
                      'approximate_sync_tolerance_seconds', 'queue_size')
# The frame of the project's own bags and demo; RViz's Fixed Frame unless told otherwise.
DEFAULT_FIXED_FRAME = 'thermal_left_optical_frame'


# Launch arguments for parameters every ROS node has (not in the node's own table).
BOOL_ARGUMENTS = ('use_sim_time',)
_BOOL_WORDS = {'true': True, '1': True, 'yes': True, 'false': False, '0': False, 'no': False}


def parameter_overrides(given: Mapping[str, str]) -> Dict[str, object]:
    """Return the typed parameters for the override arguments the user set (non-empty)."""
    out: Dict[str, object] = {}
    for name in BOOL_ARGUMENTS:
        text = given.get(name, '').strip().lower()
        if text == '':
            continue
        if text not in _BOOL_WORDS:
            raise ValueError(f'launch argument {name}:={given[name]!r} is not true or false')
        out[name] = _BOOL_WORDS[text]
    for name in OVERRIDE_ARGUMENTS:
        text = given.get(name, '')
        if text == '':
            continue
        kind = type(DEFAULTS[name])
        if kind is bool:   # bool('false') is True: read the words instead
            word = text.strip().lower()
            if word not in _BOOL_WORDS:
                raise ValueError(f'launch argument {name}:={text!r} is not true or false')
            out[name] = _BOOL_WORDS[word]
            continue
        try:
            out[name] = kind(text)
        except ValueError:
            raise ValueError(f'launch argument {name}:={text!r} is not a valid '
                             f'{kind.__name__}') from None
    return out


def launch_problem(dds_profile: str, use_rviz: bool, params_file: str) -> Optional[str]:
    """Return why the launch must not start anything, or None."""
    if dds_profile and not os.path.isfile(dds_profile):
        return (f'dds_profile:={dds_profile}: no such file (give the path of a Fast DDS XML '
                "profile, or dds_profile:='' to keep the middleware's defaults)")
    if params_file and not os.path.isfile(params_file):
        return f'params_file:={params_file}: no such file'
    if use_rviz and not rviz_installed():
        return ('use_rviz:=true but rviz2 is not installed in a sourced ROS workspace (an '
                'rviz2 on PATH alone cannot be started by launch_ros; apt install '
                'ros-$ROS_DISTRO-rviz2, '
                'or launch without use_rviz)')
    return None


def node_environment(dds_profile: str, shipped_profile: str, environ: Mapping[str, str]
                     ) -> Dict[str, str]:
    """Environment entries for the node's process alone: the Fast DDS profile to load.

    Empty for dds_profile:='' (the middleware's defaults), and when dds_profile is the shipped
    default while the user already set a profile variable: a user's own profile is replaced
    only when dds_profile names another file explicitly.
    """
    if not dds_profile:
        return {}
    if os.path.abspath(dds_profile) == os.path.abspath(shipped_profile) and any(
            environ.get(name) for name in profile_variables()):
        return {}
    return profile_environment(dds_profile)


def rviz_installed() -> bool:
    """Return True if launch_ros can start rviz2: its package and executable in the index.

    launch_ros resolves Node(package='rviz2') through the ament index, so an rviz2 on PATH
    alone is not enough: the launch would start our node and then fail on RViz, leaving the
    node running without its launch.
    """
    try:
        prefix = get_package_prefix('rviz2')
    except Exception:  # not in the index (or no index at all)
        return False
    return os.access(os.path.join(prefix, 'lib', 'rviz2', 'rviz2'), os.X_OK)


def rviz_config(template: str, namespace: str, fixed_frame: str) -> str:
    """Return the shipped RViz config with its topics in `namespace` and the Fixed Frame set.

    RViz resolves a display's topic as given; the shipped file names them relative
    ('points2'), so they are made absolute under the node's namespace here.
    """
    data = yaml.safe_load(template)
    manager = data['Visualization Manager']
    prefix = '/' + namespace.strip('/') if namespace.strip('/') else ''
    for display in manager['Displays']:
        topic = display.get('Topic', {})
        value = topic.get('Value')
        if value and not value.startswith('/'):
            topic['Value'] = f'{prefix}/{value}'
    manager['Global Options']['Fixed Frame'] = fixed_frame
    return yaml.safe_dump(data, sort_keys=False)


def _key_matches(key: str, full_name: str) -> bool:
    """Whether a params-file key selects the node `full_name`, as rcl matches them."""
    pattern = '/' + str(key).strip().lstrip('/')
    regex = ''
    for token in pattern.split('/')[1:]:
        regex += '(/[^/]+)*' if token == '**' else '/' + re.escape(token).replace(r'\*', '[^/]*')
    return re.fullmatch(regex, full_name) is not None


def params_file_warning(path: str, full_name: str) -> Optional[str]:
    """Return a warning when no top-level key of the params file selects the node, else None.

    ROS applies a params file's section only to the node its key names (`/**` for any): a
    file keyed `thermostereo:` sets nothing for `/thermal/thermostereo`, silently.
    """
    try:
        data = yaml.safe_load(pathlib.Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None          # launch_problem and the node report unreadable files
    if not isinstance(data, dict) or not data:
        return None
    if any(_key_matches(key, full_name) for key in data):
        return None
    keys = ', '.join(repr(str(k)) for k in data)
    return (f'params_file {path}: no section applies to the node {full_name} (keys: {keys}); '
            f"use '/**:' for any node, or '{full_name}:'")


def input_remappings(topics: Mapping[str, str], left_namespace: str, right_namespace: str
                     ) -> Dict[str, str]:
    """Return {input topic: remapped name}, stereo_image_proc's `<side>_namespace` applied.

    `topics` maps the node's inputs (left/image_rect, ...) to the launch arguments' values;
    a non-empty `left_namespace` makes left/image_rect and left/camera_info
    `<left_namespace>/image_rect` and `<left_namespace>/camera_info`, as stereo_image_proc's
    launch file does (and likewise for the right side).
    """
    out = dict(topics)
    for side, namespace in (('left', left_namespace), ('right', right_namespace)):
        namespace = namespace.strip().rstrip('/')
        if namespace:
            out[f'{side}/image_rect'] = f'{namespace}/image_rect'
            out[f'{side}/camera_info'] = f'{namespace}/camera_info'
    return out


def launch_argument_warnings(given: Iterable[str]) -> List[str]:
    """Return a line per stereo_image_proc launch argument or parameter name this launch lacks."""
    return [line.replace('parameter ', 'launch argument ', 1)
            for line in stereo_image_proc_warnings(given)]


def effective_namespace(pushed: str, own: str) -> str:
    """Return the namespace a node ends up in: `own` under a PushRosNamespace's `pushed`.

    As launch_ros composes them: an absolute `own` ignores what was pushed.
    """
    own, pushed = own.strip(), pushed.strip()
    if own.startswith('/'):
        return '/' + own.strip('/') if own.strip('/') else ''
    parts = [p.strip('/') for p in (pushed, own) if p.strip('/')]
    return '/' + '/'.join(parts) if parts else ''


def rviz_config_dir() -> pathlib.Path:
    """Return $XDG_CACHE_HOME/thermostereo/rviz (~/.cache/... if unset)."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return pathlib.Path(base) / 'thermostereo' / 'rviz'


def write_rviz_config(template_path: pathlib.Path, directory: pathlib.Path, namespace: str,
                      fixed_frame: str) -> pathlib.Path:
    """Write rviz_config(...) of the template into `directory`; return its path.

    One file per namespace, rewritten by every launch: launches leave no temporary files
    behind, and two launches under different namespaces do not share a file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    name = namespace.strip('/').replace('/', '_') or 'root'
    out = directory / f'thermostereo_{name}.rviz'
    tmp = out.with_suffix(f'.{os.getpid()}.tmp')
    tmp.write_text(rviz_config(template_path.read_text(), namespace, fixed_frame))
    os.replace(tmp, out)   # a concurrent launch of the same namespace never reads half a file
    return out
