# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""PyTorch runner for StereoEngine: CPU, and CUDA with autocast, pinned buffers, CUDA graphs."""

import copy
import functools
from typing import Any, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.nn.utils.fusion import fuse_conv_bn_eval

from thermostereo_ros.inference.size_cache import SizeCache

_AUTOCAST = {'fp16': torch.float16, 'bf16': torch.bfloat16}
# Iterations run on a side stream before capturing a CUDA graph, so lazy allocations and
# cuDNN autotuning happen outside the capture (PyTorch's documented requirement).
_GRAPH_WARMUP_ITERS = 3


def _as_float(output: Any) -> Any:
    if isinstance(output, tuple):
        return tuple(_as_float(item) for item in output)
    return output.float() if torch.is_tensor(output) else output


def fold_batch_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Return a copy of an eval-mode network with each batch norm folded into its convolution.

    In eval mode a batch norm is a per-channel affine map, so one that directly follows a
    convolution in a Sequential (every conv_bn_relu block) folds into that convolution's
    weights and bias (torch.nn.utils.fusion). That saves a kernel and a pass over the
    activations per block (36 in the shipped student). That matters most on a GPU, where one
    pair at a time is bound by kernel launches, not arithmetic, but it helps on a CPU too
    (docs/history/PERFORMANCE_NOTEBOOK.md, stretch 18). A copy, so the model itself still
    trains and exports.
    """
    model = copy.deepcopy(model).eval()
    for block in model.modules():
        if not isinstance(block, torch.nn.Sequential):
            continue
        names = list(block._modules)
        for conv_name, norm_name in zip(names, names[1:]):
            conv, norm = block._modules[conv_name], block._modules[norm_name]
            if (isinstance(conv, (torch.nn.Conv2d, torch.nn.Conv3d))
                    and isinstance(norm, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d))
                    and norm.track_running_stats):
                block._modules[conv_name] = fuse_conv_bn_eval(conv, norm)
                block._modules[norm_name] = torch.nn.Identity()
    return model


def autocast_only_inside(model: torch.nn.Module, modules: Sequence[str], dtype: torch.dtype
                         ) -> torch.nn.Module:
    """Return a copy of `model` whose named sub-modules run under CPU autocast.

    Their outputs are cast back to float32, and the rest of the network runs in fp32 without
    autocast (see ThermoStereoRT.bf16_modules for why). A copy, so that the model itself still
    exports and trains as it is; instance attributes shadow the class's forward.
    """
    model = copy.deepcopy(model)
    for name in modules:
        try:
            module = model.get_submodule(name)
        except AttributeError:  # not built in this configuration (use_refinement=False)
            continue
        forward = module.forward

        @functools.wraps(forward)
        def scoped(*args: Any, _forward: Any = forward, **kwargs: Any) -> Any:
            with torch.autocast('cpu', dtype=dtype, cache_enabled=False):
                return _as_float(_forward(*args, **kwargs))

        module.forward = scoped
    return model


class _CudaSlot:
    """Per-input-size CUDA state: pinned host buffers, device buffers, optional graph."""

    def __init__(self, height: int, width: int, device: torch.device) -> None:
        self.host_in = torch.empty((2, 1, 1, height, width), dtype=torch.float32).pin_memory()
        self.host_out = torch.empty((2, height, width), dtype=torch.float32).pin_memory()
        self.dev_in = torch.empty((2, 1, 1, height, width), dtype=torch.float32, device=device)
        self.graph: Optional[torch.cuda.CUDAGraph] = None
        self.graph_out: Optional[Tuple[torch.Tensor, torch.Tensor]] = None


def channels_last_2d(model: torch.nn.Module) -> torch.nn.Module:
    """Store the model's 4-D (2-D convolution) weights channels-last, in place; returns it.

    channels_last lets cuDNN pick NHWC tensor-core kernels under fp16/bf16, and oneDNN its
    blocked kernels on the CPU, in fp32 too (measured in docs/history/PERFORMANCE_NOTEBOOK.md,
    stretch 11). `Module.to(memory_format=)` refuses networks that also hold 5-D tensors (the
    teacher's 3-D convolutions), so the tensors are converted one by one and the others left
    as they are.
    """
    with torch.no_grad():
        for tensor in list(model.parameters()) + list(model.buffers()):
            if tensor.dim() == 4:
                tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    return model


class TorchRunner:
    """Run an eval-mode network with torch on CPU or one CUDA device."""

    def __init__(self, model: torch.nn.Module, device: str = 'cpu', precision: str = 'fp32',
                 cuda_graphs: bool = False, compile: bool = False) -> None:
        """Move the model to `device` and prepare the chosen optimisations."""
        self.device = torch.device(device)
        self.cuda = self.device.type == 'cuda'
        self.autocast_dtype = _AUTOCAST.get(precision)
        self.cuda_graphs = cuda_graphs
        model = model.eval().to(self.device)
        model = channels_last_2d(model)
        if self.cuda:
            torch.backends.cudnn.benchmark = True
        self.model = model
        # On the CPU, bf16 only where the network allows it, if it says where.
        self.scoped = (not self.cuda and self.autocast_dtype is not None
                       and getattr(model, 'bf16_modules', None) is not None)
        runnable = fold_batch_norms(model)
        if self.scoped and self.autocast_dtype is not None:
            runnable = autocast_only_inside(runnable, getattr(model, 'bf16_modules'),
                                            self.autocast_dtype)
        # One fixed input size per engine is the intended use: dynamic=False gives the most
        # specialised kernels, and a new size simply recompiles.
        self.forward = torch.compile(runnable, dynamic=False) if compile else runnable
        self.runnable = runnable
        self._slots: SizeCache[_CudaSlot] = SizeCache()

    def _call(self, left: torch.Tensor, right: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.autocast_dtype is None or self.scoped:
            return self.forward(left, right)
        # Graph capture forbids autocast's weight-cast cache, so it is off in every path
        # for identical numerics with and without graphs.
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, cache_enabled=False):
            return self.forward(left, right)

    def run(self, left: np.ndarray, right: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Map normalised float32 HxW images to (disparity, confidence) float32 HxW."""
        with torch.inference_mode():
            if not self.cuda:
                disp, conf = self._call(
                    torch.from_numpy(left)[None, None].contiguous(
                        memory_format=torch.channels_last),
                    torch.from_numpy(right)[None, None].contiguous(
                        memory_format=torch.channels_last))
                return disp[0, 0].float().numpy(), conf[0, 0].float().numpy()
            return self._run_cuda(left, right)

    def run_left_right(self, left: np.ndarray, right: np.ndarray
                       ) -> Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Map a normalised pair to (disparity, confidence, right view's disparity) HxW.

        None where the network has no `forward_left_right` (the teacher) or CUDA graphs are
        captured (for `run` alone): the engine then runs the mirrored pair itself.
        """
        forward = getattr(self.runnable, 'forward_left_right', None)
        if forward is None or (self.cuda and self.cuda_graphs):
            return None
        with torch.inference_mode():
            inputs = [torch.from_numpy(image)[None, None].to(self.device)
                      .contiguous(memory_format=torch.channels_last) for image in (left, right)]
            if self.autocast_dtype is None or self.scoped:
                outputs = forward(*inputs)
            else:
                with torch.autocast(self.device.type, dtype=self.autocast_dtype,
                                    cache_enabled=False):
                    outputs = forward(*inputs)
            return tuple(o[0, 0].float().cpu().numpy() for o in outputs)

    def _slot(self, height: int, width: int) -> _CudaSlot:
        def create() -> _CudaSlot:
            slot = _CudaSlot(height, width, self.device)
            if self.cuda_graphs:
                self._capture(slot)
            return slot

        return self._slots.get((height, width), create)

    def _inputs(self, slot: _CudaSlot) -> Tuple[torch.Tensor, torch.Tensor]:
        left = slot.dev_in[0].contiguous(memory_format=torch.channels_last)
        right = slot.dev_in[1].contiguous(memory_format=torch.channels_last)
        return left, right

    def _capture(self, slot: _CudaSlot) -> None:
        slot.dev_in.zero_()
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(_GRAPH_WARMUP_ITERS):
                self._call(*self._inputs(slot))
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            disp, conf = self._call(*self._inputs(slot))
        slot.graph, slot.graph_out = graph, (disp, conf)

    def _run_cuda(self, left: np.ndarray, right: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        slot = self._slot(*left.shape)
        slot.host_in[0, 0, 0].copy_(torch.from_numpy(left))
        slot.host_in[1, 0, 0].copy_(torch.from_numpy(right))
        slot.dev_in.copy_(slot.host_in, non_blocking=True)
        if slot.graph is not None:
            slot.graph.replay()
            assert slot.graph_out is not None  # captured with the graph
            disp, conf = slot.graph_out
        else:
            disp, conf = self._call(*self._inputs(slot))
        slot.host_out[0].copy_(disp[0, 0], non_blocking=True)
        slot.host_out[1].copy_(conf[0, 0], non_blocking=True)
        torch.cuda.current_stream(self.device).synchronize()
        # The pinned buffers are reused by the next call, so the caller gets copies.
        return slot.host_out[0].numpy().copy(), slot.host_out[1].numpy().copy()
