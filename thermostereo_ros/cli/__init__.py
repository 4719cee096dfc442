# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The thermostereo command line: one entry point, one module per subcommand."""
