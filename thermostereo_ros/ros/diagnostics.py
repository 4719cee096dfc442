# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The node's counters, its /diagnostics keys, and the rule that turns them into a status.

No rclpy here: `assess` is a pure function of a `Snapshot`, so every "why is it silent"
message has a unit test, and the demo and the benchmark read the same key constants.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
import math
import statistics
import threading
from typing import Any, Dict, Iterable, List, Optional, Tuple

from thermostereo_ros.evaluation.report import percentiles
from thermostereo_ros.ros.stamps import StampGuard
from thermostereo_ros.ros.sync import (
    LEFT_IMAGE, LEFT_INFO, PairSynchronizer, RIGHT_IMAGE, RIGHT_INFO)

OK, WARN, ERROR = 0, 1, 2  # the levels of diagnostic_msgs/DiagnosticStatus

# After this long with input but without output the status is WARN, after STALL_ERROR_S ERROR.
STALL_WARN_S = 3.0
STALL_ERROR_S = 10.0
WINDOW = 200  # frames in the latency windows

STATUS_SUFFIX = ': stereo depth'
CLOCK_MISSING = ('use_sim_time is true but no /clock has arrived: ROS time stands at 0. Play '
                 'the bag with a clock (thermostereo replay --clock, ros2 bag play --clock) '
                 'or set use_sim_time false')

# Keys of the node's DiagnosticStatus values; tools read them through these names.
INPUT_PAIR_RATE = 'input_pair_rate_hz'
OUTPUT_RATE = 'output_rate_hz'
PAIRS_IN = 'pairs_in'
PAIRS_OUT = 'pairs_out'
DROPS_STALE = 'drops_stale'
DROPS_UNSYNCHRONISED = 'drops_unsynchronised'
DROPS_BAD_INPUT = 'drops_bad_input'
BAD_INPUT_PREFIX = 'bad_input_'
LOW_CONTRAST_FRAMES = 'low_contrast_frames'
INFERENCE_ERRORS = 'inference_errors'
SKIPPED_NO_SUBSCRIBERS = 'skipped_no_subscribers'
TIMELINE_RESTARTS = 'timeline_restarts'
# Mean share of the valid pixels that passed the left-right check over the last WINDOW
# published pairs; 'n/a' when no pair in
# the window was checked (lr_check off).
LR_CHECK_KEPT = 'lr_check_kept_share'
DEVICE = 'device'
BACKEND = 'backend'
PRECISION = 'precision'
MODEL_PATH = 'model_path'
MAX_DISPARITY = 'max_disparity'
EVAL_FRAMES = 'eval_frames'
EVAL_EPE = 'eval_epe_px'
EVAL_D1 = 'eval_d1_percent'
LATENCY_STAGES = ('inference_latency', 'end_to_end_latency', 'pipeline_latency',
                  'queue_wait', 'conversion', 'postprocess', 'publish')


def latency_key(stage: str, percentile: int) -> str:
    """Return the key of a latency percentile, e.g. ('inference_latency', 50)."""
    return f'{stage}_p{percentile}_ms'


def status_name(fully_qualified_name: str) -> str:
    """Return the DiagnosticStatus name of the node with this fully qualified name."""
    return fully_qualified_name + STATUS_SUFFIX


class Stats:
    """Counters and latency windows shared by callbacks, the worker and the timer."""

    def __init__(self, bad_input_reasons: Iterable[str]) -> None:
        """Start every counter at zero."""
        self.lock = threading.Lock()
        self.bad_input: Dict[str, int] = {reason: 0 for reason in bad_input_reasons}
        self.last_bad = ''
        self.stale = 0
        self.inference_errors = 0
        self.last_inference_error = ''
        self.skipped_no_subscribers = 0
        self.low_contrast = 0
        self.pairs_in = 0
        self.pairs_out = 0
        self.timeline_restarts = 0
        self.latency: Dict[str, deque] = {stage: deque(maxlen=WINDOW)
                                          for stage in LATENCY_STAGES}
        self.lr_kept: deque = deque(maxlen=WINDOW)

    def latency_sample(self, stage: str, milliseconds: float) -> None:
        """Record one sample of a stage (takes the lock)."""
        with self.lock:
            self.latency[stage].append(milliseconds)

    def count_bad(self, reason: str, where: str) -> int:
        """Count one input dropped for `reason` ('topic: what was wrong'); return the total."""
        with self.lock:
            self.bad_input[reason] = count = self.bad_input.get(reason, 0) + 1
            self.last_bad = where
        return count

    def count(self, **increments: int) -> None:
        """Add to the plain counters by name, e.g. stale=1 for one stale pair."""
        with self.lock:
            for name, value in increments.items():
                setattr(self, name, getattr(self, name) + value)

    def count_error(self, text: str) -> None:
        """Count one failed frame and remember why."""
        with self.lock:
            self.inference_errors += 1
            self.last_inference_error = text

    def count_output(self, latencies_ms: Dict[str, float], low_contrast: bool,
                     lr_kept: float = math.nan) -> None:
        """Count one published pair with its stage latencies (keys from LATENCY_STAGES).

        lr_kept: the share the left-right check kept of this pair's valid pixels (NaN: none).
        """
        with self.lock:
            self.pairs_out += 1
            self.low_contrast += int(low_contrast)
            if math.isfinite(lr_kept):
                self.lr_kept.append(lr_kept)
            for stage, value in latencies_ms.items():
                self.latency[stage].append(value)

    def locked_counts(self) -> Dict[str, int]:
        """Return the cumulative counters (takes the lock)."""
        with self.lock:
            return self.counts()

    def counts(self) -> Dict[str, int]:
        """Return the cumulative counters (call with the lock held)."""
        return dict(pairs_in=self.pairs_in, pairs_out=self.pairs_out,
                    bad=sum(self.bad_input.values()), skipped=self.skipped_no_subscribers,
                    low_contrast=self.low_contrast, errors=self.inference_errors,
                    stale=self.stale, timeline_restarts=self.timeline_restarts)


# A diagnostics period in which more than this share of the images found no partner, with at
# least UNPAIRED_MIN_IMAGES images and some pairs made, is reported (free-running cameras
# whose stamps drift in and out of the tolerance).
UNPAIRED_WARN_SHARE = 0.5
UNPAIRED_MIN_IMAGES = 6


def unpaired_warning(new_unpaired: int, new_pairs: int, gaps_ns: List[int],
                     approximate: bool, tolerance_s: float) -> Optional[str]:
    """Return a WARN text when most images went unpaired, with the stamp offset seen, or None.

    `new_unpaired` images were dropped without a partner and `new_pairs` pairs made in the
    period; `gaps_ns` are recent left/right stamp gaps. The text names the median offset and
    a tolerance (the 90th percentile gap plus 20 %) that would have paired them.
    """
    images = new_unpaired + 2 * new_pairs
    # No pair at all is a stall, which `assess` explains (missing camera_info, offset);
    # this is for the frames lost while some still pair, which leave the status OK.
    if new_pairs == 0 or images < UNPAIRED_MIN_IMAGES or \
            new_unpaired <= UNPAIRED_WARN_SHARE * images or not gaps_ns:
        return None
    ordered = sorted(gaps_ns)
    median_ms = statistics.median(ordered) / 1e6
    wanted_s = math.ceil(ordered[int(0.9 * (len(ordered) - 1))] * 1.2 / 1e6) / 1e3
    fix = (f'approximate_sync_tolerance_seconds {wanted_s:g} would pair them (now '
           f'{tolerance_s:g})' if approximate else
           f'approximate_sync true with approximate_sync_tolerance_seconds {wanted_s:g} would '
           f'pair them (now exact stamps)')
    return (f'{new_unpaired} of {images} images found no partner; the left/right stamp offset '
            f'is {median_ms:.1f} ms (median): {fix}')


def percentile_text(values: Iterable[float], q: int) -> str:
    """Return the q-th percentile with one decimal, or 'n/a' without samples."""
    value = percentiles(values, (q,))[f'p{q}']
    return 'n/a' if math.isnan(value) else f'{value:.1f}'


@dataclass
class Snapshot:
    """What `assess` needs to know about the last diagnostics period and the node's inputs."""

    engine_error: str = ''
    new_bad: int = 0
    last_bad: str = ''
    new_pairs_in: int = 0
    new_pairs_out: int = 0
    new_skipped: int = 0
    new_low_contrast: int = 0
    new_inference_errors: int = 0
    last_inference_error: str = ''
    seconds_without_output: float = 0.0
    # Per input side ('left', 'right'): topic names, and whether images arrived this period.
    image_topics: Dict[str, str] = field(default_factory=dict)
    info_topics: Dict[str, str] = field(default_factory=dict)
    images_arriving: Dict[str, bool] = field(default_factory=dict)
    has_camera_info: Dict[str, bool] = field(default_factory=dict)
    last_stamp_ns: Dict[str, Optional[int]] = field(default_factory=dict)
    incompatible_qos: Dict[str, str] = field(default_factory=dict)


def _qos_cause(s: Snapshot) -> str:
    topic, what = next(iter(s.incompatible_qos.items()))
    return (f'a publisher of {topic} has QoS incompatible with the subscription: {what} '
            f'(check qos_overrides, or the publisher\'s reliability and durability)')


def _stall_cause(s: Snapshot) -> str:
    if s.incompatible_qos:
        return _qos_cause(s)
    sides = ('left', 'right')
    missing = [s.image_topics[side] for side in sides if not s.images_arriving.get(side)]
    if missing:
        return f'no images on {missing[0]} (while the other side sends; check the remapping)'
    no_info = [s.info_topics[side] for side in sides if not s.has_camera_info.get(side)]
    if no_info:
        return f'camera_info never received on {", ".join(no_info)} (check the remapping)'
    if s.new_bad and s.new_pairs_in == 0:
        return f'every message rejected: {s.last_bad}'
    if s.new_pairs_in == 0:
        left, right = s.last_stamp_ns.get('left'), s.last_stamp_ns.get('right')
        offset = '' if left is None or right is None else \
            f'; the right stamps are {(left - right) / 1e6:+.1f} ms behind the left'
        return ('left and right stamps never match' + offset
                + ' (approximate_sync, its tolerance, or queue_size)')
    if s.new_inference_errors:
        return f'inference fails: {s.last_inference_error}'
    return 'pairs are received but none is published'


def assess(s: Snapshot) -> Tuple[int, str]:
    """Return (level, message) for the node's DiagnosticStatus.

    Silence is never "ok": images arriving with nothing published for STALL_WARN_S seconds is
    WARN, for STALL_ERROR_S ERROR, and the message names the most likely cause.
    """
    if s.engine_error:
        return ERROR, s.engine_error
    receiving = any(s.images_arriving.values())
    idle_by_choice = s.new_skipped > 0 and s.new_pairs_out == 0
    if receiving and not idle_by_choice and s.seconds_without_output >= STALL_WARN_S:
        level = ERROR if s.seconds_without_output >= STALL_ERROR_S else WARN
        return level, (f'no output for {s.seconds_without_output:.0f} s: '
                       + _stall_cause(s))
    if not receiving and s.seconds_without_output >= STALL_WARN_S:
        if s.incompatible_qos:
            return WARN, 'no input: ' + _qos_cause(s)
        topics = ' and '.join(s.image_topics.values())
        return WARN, f'no input: no images on {topics} for {s.seconds_without_output:.0f} s'
    if s.new_bad and s.new_pairs_out == 0:
        return ERROR, f'all input rejected: {s.new_bad} bad message(s); last: {s.last_bad}'
    if s.new_bad:
        return WARN, f'{s.new_bad} bad input message(s); last: {s.last_bad}'
    if s.new_low_contrast and s.new_low_contrast >= s.new_pairs_out:
        return WARN, ('every frame is uniform (shutter/FFC, lens cap or washed out): '
                      'published all-invalid')
    if s.new_inference_errors:
        return WARN, f'{s.new_inference_errors} inference error(s): {s.last_inference_error}'
    if idle_by_choice:
        return OK, 'no subscribers: pairs are not processed'
    return OK, 'ok'


def latency_values(stats: Stats) -> List[Tuple[str, str]]:
    """Return the p50/p95 key-value pairs of every latency stage (call with the lock held)."""
    return [(latency_key(stage, q), percentile_text(stats.latency[stage], q))
            for stage in LATENCY_STAGES for q in (50, 95)]


def status_values(counts: Dict[str, int], new: Dict[str, int], elapsed_s: float,
                  bad: Dict[str, int], unsynchronised: int) -> List[Tuple[str, str]]:
    """Return the rate and counter key-value pairs of a DiagnosticStatus."""
    values = [(INPUT_PAIR_RATE, f'{new["pairs_in"] / elapsed_s:.2f}'),
              (OUTPUT_RATE, f'{new["pairs_out"] / elapsed_s:.2f}'),
              (PAIRS_IN, counts['pairs_in']), (PAIRS_OUT, counts['pairs_out']),
              (DROPS_STALE, counts['stale']), (DROPS_UNSYNCHRONISED, unsynchronised),
              (DROPS_BAD_INPUT, counts['bad']),
              *((BAD_INPUT_PREFIX + reason, n) for reason, n in sorted(bad.items())),
              (LOW_CONTRAST_FRAMES, counts['low_contrast']),
              (INFERENCE_ERRORS, counts['errors']),
              (SKIPPED_NO_SUBSCRIBERS, counts['skipped']),
              (TIMELINE_RESTARTS, counts['timeline_restarts'])]
    return [(key, str(value)) for key, value in values]


def lr_kept_text(shares: Iterable[float]) -> str:
    """Return the mean kept share of the left-right check, 'n/a' when no pair had one."""
    values = list(shares)
    return f'{sum(values) / len(values):.3f}' if values else 'n/a'


def engine_values(engine: Dict[str, object]) -> List[Tuple[str, str]]:
    """Return the key-value pairs of what runs (ActiveEngine.describe())."""
    return [(DEVICE, str(engine['device'])), (BACKEND, str(engine['backend'])),
            (PRECISION, str(engine['precision'])), (MODEL_PATH, str(engine['model_path'])),
            (MAX_DISPARITY, f"{engine['max_disparity']:g}")]


class Throttle:
    """At most one True per key and period: one flood of errors must not hide another cause."""

    def __init__(self, period_s: float) -> None:
        """Allow one event per key every `period_s` seconds."""
        self.period_s = period_s
        self._last: Dict[object, float] = {}

    def ready(self, key: object, now: float) -> bool:
        """Return True (and start a new period) if `key` is due at `now`."""
        if now - self._last.get(key, -math.inf) < self.period_s:
            return False
        self._last[key] = now
        return True


class InputWatch:
    """When each side's images last arrived, for the Snapshot's input fields."""

    SIDES = ('left', 'right')

    def __init__(self, topics: Any = None) -> None:
        """Watch the inputs of `topics` (a validation.Topics of resolved names), or later."""
        self.image_topics: Dict[str, str] = {}
        self.info_topics: Dict[str, str] = {}
        if topics is not None:
            self.watch(topics)
        self.arrived: Dict[str, float] = {}
        # Topic -> 'POLICY (n publishers' events)': publishers DDS refused to connect to us.
        self.incompatible_qos: Dict[str, str] = {}

    def watch(self, topics: Any) -> None:
        """Set the watched topics (a validation.Topics of resolved names)."""
        self.image_topics = {'left': topics.left_image, 'right': topics.right_image}
        self.info_topics = {'left': topics.left_info, 'right': topics.right_info}

    def qos_incompatible(self, topic: str, policy: str, total: int) -> None:
        """Record an incompatible-QoS event of a subscription (from rclpy's event callback)."""
        self.incompatible_qos[topic] = f'{policy} ({total} so far)'

    def fields(self, now: float, pairing: PairSynchronizer,
               stamps: StampGuard) -> Dict[str, object]:
        """Return the Snapshot fields about the inputs."""
        return dict(image_topics=self.image_topics, info_topics=self.info_topics,
                    images_arriving={s: now - self.arrived.get(s, -math.inf) < 2.0
                                     for s in self.SIDES},
                    has_camera_info={'left': pairing.has_camera_info(LEFT_INFO),
                                     'right': pairing.has_camera_info(RIGHT_INFO)},
                    last_stamp_ns={'left': stamps.last.get(LEFT_IMAGE),
                                   'right': stamps.last.get(RIGHT_IMAGE)},
                    incompatible_qos=dict(self.incompatible_qos))


class Reporter:
    """Turns the counters into one status per period: what changed since the last report."""

    def __init__(self, now: float) -> None:
        """Start the first period at `now` (time.monotonic())."""
        self._last = now
        self._previous: Dict[str, int] = {}

    def report(self, now: float, stats: Stats, inputs: Dict[str, Any], engine_error: str,
               seconds_without_output: float, unsynchronised: int,
               engine: Dict[str, object], evaluation: Optional[Dict[str, float]]
               ) -> Tuple[int, str, List[Tuple[str, str]]]:
        """Return (level, message, key-value pairs) for this period."""
        elapsed, self._last = max(now - self._last, 1e-6), now
        with stats.lock:
            counts, bad = stats.counts(), dict(stats.bad_input)
            latencies = latency_values(stats) + [(LR_CHECK_KEPT, lr_kept_text(stats.lr_kept))]
            last_bad, last_error = stats.last_bad, stats.last_inference_error
        new = {k: v - self._previous.get(k, 0) for k, v in counts.items()}
        self._previous = counts
        level, message = assess(Snapshot(
            **inputs, engine_error=engine_error, new_bad=new['bad'], last_bad=last_bad,
            new_pairs_in=new['pairs_in'], new_pairs_out=new['pairs_out'],
            new_skipped=new['skipped'], new_low_contrast=new['low_contrast'],
            new_inference_errors=new['errors'], last_inference_error=last_error,
            seconds_without_output=seconds_without_output))
        values = status_values(counts, new, elapsed, bad, unsynchronised) + latencies + \
            engine_values(engine)
        if evaluation is not None:
            values += evaluation_values(evaluation)
        return level, message, values


def evaluation_values(result: Dict[str, float]) -> List[Tuple[str, str]]:
    """Return the running evaluation key-value pairs from a MetricAccumulator result."""
    scored = result['pixels'] > 0
    return [(EVAL_FRAMES, str(int(result['frames']))),
            (EVAL_EPE, f'{result["epe"]:.4f}' if scored else 'n/a'),
            (EVAL_D1, f'{result["d1"]:.3f}' if scored else 'n/a')]
