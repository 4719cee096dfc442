# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The node under cProfile, in every thread, and what the bench reports of the profile.

`python -m thermostereo_ros.tools.node_profile profile-node OUT.pstats --ros-args ...` runs the
node with cProfile in every thread (the inference worker included), for `thermostereo bench
--node-profile`.
"""

import cProfile
import pathlib
import pstats
import sys
import threading
from typing import Any, Dict, List

from thermostereo_ros.ros import main as node_main

# Node functions whose cumulative profile time is reported (module path fragment, name).
PROFILE_FOCUS = (
    ('ros/node.py', '_on_image'), ('ros/node.py', '_process'),
    ('ros/conversions.py', 'image_to_numpy'), ('ros/conversions.py', 'make_disparity_image'),
    ('ros/conversions.py', 'disparity_to_pointcloud'), ('ros/conversions.py', '_byte_array'),
    ('ros/conversions.py', 'valid_window'), ('geometry/reprojection.py', 'disparity_to_points'),
    ('inference/engine.py', 'infer'), ('inference/engine.py', '_check_pair'),
    ('data/normalization.py', 'normalize_pair'), ('ros/sync.py', 'add'),
    ('rclpy/publisher.py', 'publish'), ('ros/node.py', '_publish_diagnostics'),
)


def profile_summary(path: pathlib.Path, top: int = 15) -> Dict[str, Any]:
    """Cumulative time of the node functions in PROFILE_FOCUS, and the top by own time."""
    if not path.is_file():
        return {'profile_error': f'{path} was not written (did the node exit cleanly?)'}
    stats = pstats.Stats(str(path))
    focus, own = [], []
    # pstats.Stats keeps its table in `stats`, documented but missing from typeshed.
    table = getattr(stats, 'stats')
    for (filename, line, name), (_, calls, tottime, cumtime, _) in table.items():
        label = f'{_short(filename)}:{line}({name})'
        if any(filename.endswith(mod) and name == fn for mod, fn in PROFILE_FOCUS):
            focus.append({'function': label, 'calls': calls, 'cumulative_s': cumtime,
                          'own_s': tottime})
        own.append({'function': label, 'calls': calls, 'own_s': tottime,
                    'cumulative_s': cumtime})
    focus.sort(key=lambda e: -e['cumulative_s'])
    own.sort(key=lambda e: -e['own_s'])
    return {'profile_file': str(path), 'profile_top': focus,
            'profile_own_time_top': own[:top]}


def _short(filename: str) -> str:
    parts = pathlib.Path(filename).parts
    for anchor in ('thermostereo_ros', 'rclpy', 'numpy', 'torch'):
        if anchor in parts:
            return '/'.join(parts[parts.index(anchor):])
    return filename


def profile_node(out: str, ros_argv: List[str]) -> int:
    """Run the node's main() with cProfile in every thread; write merged stats to `out`."""
    finished: List[cProfile.Profile] = []
    original_run = threading.Thread.run

    def profiled_run(thread: threading.Thread) -> None:
        # cProfile hooks one thread only; the inference worker is where the time goes.
        prof = cProfile.Profile()
        prof.enable()
        try:
            original_run(thread)
        finally:
            prof.disable()
            finished.append(prof)

    threading.Thread.run = profiled_run  # type: ignore[method-assign, assignment]
    main_prof = cProfile.Profile()
    main_prof.enable()
    try:
        code = node_main.run([sys.argv[0], *ros_argv])
    finally:
        main_prof.disable()
        stats = pstats.Stats(main_prof)
        for prof in finished:
            stats.add(prof)
        stats.dump_stats(out)
    return code


if __name__ == '__main__':
    if len(sys.argv) >= 3 and sys.argv[1] == 'profile-node':
        sys.exit(profile_node(sys.argv[2], sys.argv[3:]))
    print('usage: python -m thermostereo_ros.tools.node_profile profile-node OUT.pstats '
          '--ros-args ...  (the benchmark itself runs via `thermostereo bench`)',
          file=sys.stderr)
    sys.exit(2)
