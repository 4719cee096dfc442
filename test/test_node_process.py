# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The node as a process: clean SIGINT exit, one readable line for a bad model."""

import os
import signal
import subprocess
import sys
import time

import pytest

from node_helpers import tiny_checkpoint

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy')


def _run(args, **kwargs):
    return subprocess.Popen([sys.executable, '-m', 'thermostereo_ros.ros.main', '--ros-args',
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, 'PYTHONUNBUFFERED': '1'}, **kwargs)


def _read_until(proc, text, timeout=60.0):
    """Return the process's output lines up to the first containing `text` (asserted)."""
    lines = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        lines.append(line)
        if text in line or time.monotonic() > deadline:
            break
    assert any(text in line for line in lines), lines
    return lines


@pytest.mark.parametrize('problem', ['missing', 'corrupt'])
def test_bad_model_exits_non_zero_with_one_line(tmp_path, problem):
    path = tmp_path / 'model.safetensors'
    if problem == 'corrupt':
        path.write_bytes(b'this is not a safetensors file')
    proc = _run(['-p', f'model_path:={path}', '-p', 'device:=cpu'])
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert 'Traceback' not in output
    errors = [line for line in output.splitlines() if 'error' in line.lower()]
    assert len(errors) == 1 and str(path) in errors[0], output


def test_bad_parameter_at_start_exits_non_zero(tmp_path):
    proc = _run(['-p', 'device:=tpu'])
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and 'Traceback' not in output and 'device' in output


def test_sigint_exits_zero(tmp_path):
    path = tiny_checkpoint(tmp_path)
    proc = _run(['-p', f'model_path:={path}', '-p', 'device:=cpu', '-r',
                 '__ns:=/sigint_test'])
    lines = _read_until(proc, 'waiting for')
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, ''.join(lines) + output
    assert 'Traceback' not in output


@pytest.mark.parametrize('number', [signal.SIGINT, signal.SIGTERM])
def test_exit_zero_after_a_live_engine_rebuild(number):
    # OpenVINO's CPU plugin used to be unloaded with the replaced engine, and the next signal
    # killed the process with SIGSEGV (exit -11, 4 of 4 runs): its alternate signal stack was
    # gone. Rebuild live (max_disparity), then signal: a clean exit 0.
    pytest.importorskip('openvino')
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rcl_interfaces.srv import SetParameters

    namespace = f'/rebuild_signal_{os.getpid()}_{int(number)}'
    proc = _run(['-p', 'device:=cpu', '-p', 'backend:=openvino', '-r', f'__ns:={namespace}'])
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('rebuild_client', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        client = node.create_client(SetParameters, f'{namespace}/thermostereo/set_parameters')
        assert client.wait_for_service(timeout_sec=60), 'the node never came up'
        request = SetParameters.Request()
        request.parameters = [Parameter('max_disparity', value=96).to_parameter_msg()]
        future = client.call_async(request)
        executor.spin_until_future_complete(future, timeout_sec=30)
        assert future.result().results[0].successful
    finally:
        rclpy.try_shutdown(context=context)
    lines = _read_until(proc, 'engine rebuilt')
    proc.send_signal(number)
    output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, ''.join(lines) + output


def test_node_started_by_a_tool_ends_when_the_tool_is_killed(tmp_path):
    """A tool killed outright (SIGKILL, a test timeout) leaves no orphan node behind."""
    path = tiny_checkpoint(tmp_path)
    log = tmp_path / 'node.log'
    tool = subprocess.Popen(
        [sys.executable, '-c',
         'import sys, time\n'
         'from thermostereo_ros.tools.node_process import NodeProcess, node_command\n'
         'node = NodeProcess(node_command(sys.argv[2:]), sys.argv[1])\n'
         'print(node.proc.pid, flush=True)\n'
         'time.sleep(120)\n',
         str(log), '-p', f'model_path:={path}', '-p', 'device:=cpu', '-r', '__ns:=/orphan_test'],
        stdout=subprocess.PIPE, text=True, env={**os.environ, 'PYTHONUNBUFFERED': '1'})
    try:
        node_pid = int(tool.stdout.readline())
        deadline = time.monotonic() + 60
        while 'waiting for' not in (log.read_text() if log.exists() else ''):
            assert time.monotonic() < deadline and tool.poll() is None, \
                log.read_text() if log.exists() else 'no node log'
            time.sleep(0.1)
    finally:
        tool.kill()
        tool.wait(10)
    deadline = time.monotonic() + 10
    while True:
        try:
            os.kill(node_pid, 0)  # still there (or a zombie awaiting its reaper)
        except ProcessLookupError:
            break
        with open(f'/proc/{node_pid}/stat') as stat:
            if stat.read().split(') ')[-1].startswith('Z'):
                break
        assert time.monotonic() < deadline, 'the node outlived the tool that started it'
        time.sleep(0.1)
