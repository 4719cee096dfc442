# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Shared pytest set-up: keep DDS on loopback even when a test is run outside the Makefile."""

import atexit
import os
import random
import shutil
import tempfile

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('ROS_DOMAIN_ID', str(random.randint(1, 100)))
os.environ.setdefault('OMP_NUM_THREADS', '2')
# Nodes started by the tests keep their export cache (export_cache) in a folder of this run
# only: nothing read from, or left in, the user's ~/.cache.
_CACHE_HOME = tempfile.mkdtemp(prefix='thermostereo_test_xdg_')
os.environ['XDG_CACHE_HOME'] = _CACHE_HOME
atexit.register(shutil.rmtree, _CACHE_HOME, True)
