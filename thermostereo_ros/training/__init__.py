# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Training with knowledge distillation (single process or torchrun DDP)."""
