"""Recording throughput: the collector's recorder against a plain rclpy recorder, same run.

    cd /work/main && PYTHONPATH=/work/main /tmp/v/bin/python bench/record_throughput.py \\
        [--seconds 8] [--scales 1,1.5,2,3] [--quick] [--json-out results.json] [--budget-s 600]

For each recorder (``ours``: ``collector.ros.recorder_node`` driven through its
services; ``baseline``: ``bench/baseline_recorder.py``, deserialising rclpy
callbacks) and each camera rate scale of a ladder (1 = the Bao'an rig's nominal
load: 4 VGA streams at 30 Hz + ~2,000 small messages/s), one step starts fresh
processes: the recorder, then the synthetic robot (with ground truth), waits
until every stream flows, records ``--seconds``, stops, and then judges:

* capture: per stream, the published messages whose header stamp lies within
  [first recorded stamp, last recorded stamp] of that stream, and how many of
  exactly those the recording holds (see ``bench/capture_window.py``);
* recorder CPU: utime + stime of the recorder process over the window, 100% =
  one core (the machine's cores are shared with the robot, which is Python too);
* offered bandwidth: MB/s (1e6 bytes, serialized CDR) the robot actually
  published: the requested load times the robot's pace, the slope of its
  progress through the ground-truth file (sampled every 0.25 s) over wall
  time. Below ``KEEP_UP_MIN`` (or ending the window more than ``LAG_MAX_S``
  behind schedule) the step is marked publisher-limited: the robot, not the
  recorder, set the load;
* other load: CPU of every other user process during the window. The machine
  may be shared, so each step first waits (``--quiet-wait``) until others
  leave it idle; a step during which they loaded it anyway is run again
  (``--retries``), and flagged ``(other load)`` if it never ran undisturbed.

A recorder's ladder ends after two consecutive lossy steps; the whole run
stops starting steps once ``--budget-s`` would be exceeded. Loss-free
bandwidth is the largest offered MB/s of a step where every stream was
captured 100.00%, counting only steps below the recorder's first lossy one.

Environment: every process runs with ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``
on ``ROS_DOMAIN_ID`` = ``$BENCH_ROS_DOMAIN_ID`` (default 77), with the
project's Fast DDS transport profile (64 MB shared memory) for both recorders.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rich import box  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.capture_window import read_truth, stream_capture, truth_progress_ns  # noqa: E402
from bench.machine import cpu_seconds, other_cpu_seconds, rss_bytes, user_process_cpu, wait_for_quiet  # noqa: E402
from collector.errors import CollectorError  # noqa: E402
from collector.rig import Rig, load_rig  # noqa: E402

DEFAULT_RIG = "baoan_humanoid"
RECORDERS = ("ours", "baseline")
DEFAULT_SCALES = (1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 8, 10, 12)
QUICK_SCALES = (1, 2)
KEEP_UP_MIN = 0.98  # robot's achieved / requested rate below this: publisher-limited
LAG_MAX_S = 0.25  # robot behind schedule by more than this at the end of the window: publisher-limited
QUIET_MAX_PCT = 25.0  # before a step, wait until the machine is this idle (% of one core) ...
OTHER_LOAD_WARN_PCT = 25.0  # ... and flag steps during which others' processes used more than this
STREAMS_TIMEOUT_S = 30.0
DEFAULT_STEP_ESTIMATE_S = 25.0
NS = 1_000_000_000
MB = 1e6

console = Console(width=None if sys.stdout.isatty() else 160)  # piped: wide enough for the tables


class BenchError(CollectorError):
    """A step could not be run (a process died, a recorder did not answer)."""


# --------------------------------------------------------------------------- setup


def setup_environment() -> str:
    """Isolate DDS for this process and every child; returns the domain id."""
    domain = os.environ.get("BENCH_ROS_DOMAIN_ID", "77")
    os.environ["ROS_DOMAIN_ID"] = domain
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    from collector.ros.dds import apply_transport_defaults

    apply_transport_defaults()  # the bench process, and through os.environ every node it starts
    return domain


def message_sizes(rig: Rig) -> dict[str, int]:
    """Serialized CDR size (bytes) of one message of each stream, as the synthetic robot sends it."""
    import array

    from geometry_msgs.msg import WrenchStamped
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image, Imu, JointState

    bytes_per_pixel = {"rgb8": 3, "bgr8": 3, "mono8": 1, "16UC1": 2, "32FC1": 4}
    sizes = {}
    for stream in rig.streams:
        if stream.type == "sensor_msgs/msg/Image":
            step = stream.width * bytes_per_pixel[stream.encoding]
            msg = Image(height=stream.height, width=stream.width, encoding=stream.encoding, step=step,
                        data=array.array("B", bytes(step * stream.height)))
        elif stream.type == "sensor_msgs/msg/JointState":
            n = len(stream.joints)
            effort = [] if stream.role == "action" else [0.0] * n
            msg = JointState(name=list(stream.joints), position=[0.0] * n, velocity=[0.0] * n, effort=effort)
        elif stream.type == "sensor_msgs/msg/Imu":
            msg = Imu()
        elif stream.type == "geometry_msgs/msg/WrenchStamped":
            msg = WrenchStamped()
        else:
            raise BenchError(f"{stream.name}: no size model for {stream.type}")
        msg.header.frame_id = stream.frame_id
        sizes[stream.name] = len(serialize_message(msg))
    return sizes


def scaled_rates(rig: Rig, scale: float) -> dict[str, float]:
    """Requested rate (Hz) of each stream at a camera rate scale (as the synthetic robot applies it)."""
    return {s.name: s.rate_hz * (scale if s.role in ("camera", "depth") else 1.0) for s in rig.streams}


# --------------------------------------------------------------------------- one step


@dataclass
class Context:
    """What every step shares."""

    rig: Rig
    rig_arg: str  # what the nodes get as their ``rig`` parameter
    sizes: dict[str, int]
    out_dir: Path
    seconds: float
    warmup_s: float
    keep: bool
    quiet_wait_s: float
    progress: Progress
    processes: list = field(default_factory=list)  # live NodeProcess objects, for cleanup

    def spawn(self, name: str, module: str, params: dict, log_path: Path):
        from collector.capture.processes import NodeProcess

        process = NodeProcess(name, module, params, log_path=log_path)
        self.processes.append(process)
        return process

    def stop(self, process) -> int:
        code = process.stop(timeout_s=30.0)
        if process in self.processes:
            self.processes.remove(process)
        return code

    def stop_all(self) -> None:
        for process in list(reversed(self.processes)):
            self.stop(process)


def _wait(predicate, timeout_s: float, what: str, alive=()) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        for process in alive:
            if not process.alive():
                raise BenchError(f"{process.name} exited while {what}:\n{process.log_tail()}")
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout_s:.0f} s {what}")
        time.sleep(0.05)


class _OursDriver:
    """The collector's recorder: one process, episodes through its services."""

    module = "collector.ros.recorder_node"

    def __init__(self, ctx: Context, data_dir: Path, log_path: Path):
        from collector.ros.control import RecorderClient

        spawned_ns = time.time_ns()
        self.process = ctx.spawn("recorder", self.module, {"rig": ctx.rig_arg, "out": str(data_dir)}, log_path)
        self.client = RecorderClient(node_name="record_throughput_control")
        try:
            self.client.wait_for_recorder(STREAMS_TIMEOUT_S, alive=self.process.alive)
            # the status must come from this step's recorder, not a previous one
            if self.client.wait_status(lambda s: s["time_ns"] > spawned_ns, STREAMS_TIMEOUT_S) is None:
                raise BenchError("no status from the new recorder")
        except BaseException:
            self.client.close()
            raise

    def wait_streams(self, robot) -> None:
        def flowing(status) -> bool:
            return all(s["state"] in ("ok", "slow") for s in status["streams"])

        deadline = time.monotonic() + STREAMS_TIMEOUT_S
        while self.client.wait_status(flowing, 0.5) is None:
            for process in (self.process, robot):
                if not process.alive():
                    raise BenchError(f"{process.name} exited while waiting for streams:\n{process.log_tail()}")
            if time.monotonic() > deadline:
                problems = "; ".join((self.client.status or {}).get("problems", []))
                raise BenchError(f"streams not flowing to the recorder after {STREAMS_TIMEOUT_S:.0f} s: {problems}")

    def arm(self) -> None:
        self.episode = Path(self.client.start())

    def disarm(self) -> None:
        try:
            self.client.stop()
        except CollectorError:
            # a long drain at high bandwidth can outlast the client's timeout: wait for the status
            done = self.client.wait_status(lambda s: not s["recording"] and s["last_episode"] == str(self.episode),
                                           120.0)
            if done is None:
                raise

    def close(self, ctx: Context) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        ctx.stop(self.process)

    def recorded_stamps(self, rig: Rig, window: tuple[int, int]) -> tuple[dict[str, list[int]], dict]:
        from collector.bag.inspect import header_stamp_ns
        from collector.bag.reader import open_bag
        from collector.episode import read_episode_info

        names = {s.topic: s.name for s in rig.streams}
        stamps: dict[str, list[int]] = {s.name: [] for s in rig.streams}
        with open_bag(self.episode) as bag:
            for message in bag.messages(ordered=False):
                stamps[names[message.topic]].append(header_stamp_ns(message.data))
        info = read_episode_info(self.episode)
        reported = {name: {"count": s.count, "drops": s.drops, "gaps": s.gaps, "missing": s.missing}
                    for name, s in info.streams.items()}
        return stamps, {"episode": self.episode.name, "status": info.status, "streams": reported}


class _BaselineDriver:
    """The baseline recorder: records from launch until SIGINT; the bench trims to the window."""

    module = "bench.baseline_recorder"

    def __init__(self, ctx: Context, data_dir: Path, log_path: Path):
        self.data_dir = data_dir
        self.streams = ctx.rig.streams
        self.process = ctx.spawn("baseline_recorder", self.module, {"rig": ctx.rig_arg, "out": str(data_dir)},
                                 log_path)
        _wait(lambda: "baseline recording" in self.process.log_tail(), STREAMS_TIMEOUT_S,
              "waiting for the baseline recorder to subscribe", alive=(self.process,))

    def wait_streams(self, robot) -> None:
        files = [self.data_dir / f"{s.name}.bin" for s in self.streams]

        def flowing() -> bool:
            return all(f.exists() and f.stat().st_size > 0 for f in files)

        _wait(flowing, STREAMS_TIMEOUT_S, "waiting for every stream to reach the baseline recorder",
              alive=(self.process, robot))

    def arm(self) -> None:
        pass  # records since launch; only messages handled within the window count

    def disarm(self) -> None:
        pass

    def close(self, ctx: Context) -> None:
        ctx.stop(self.process)

    def recorded_stamps(self, rig: Rig, window: tuple[int, int]) -> tuple[dict[str, list[int]], dict]:
        from bench.baseline_recorder import COUNTS_FILE, read_records

        start_ns, end_ns = window
        stamps = {
            s.name: [stamp for stamp, receive_ns, _ in read_records(self.data_dir / f"{s.name}.bin")
                     if start_ns <= receive_ns <= end_ns]
            for s in rig.streams
        }
        counts_path = self.data_dir / COUNTS_FILE
        counts = json.loads(counts_path.read_text()) if counts_path.exists() else {}
        reported = {name: {"count": s["count"]} for name, s in counts.get("streams", {}).items()}
        return stamps, {"counts_json": counts_path.exists(), "streams": reported}


DRIVERS = {"ours": _OursDriver, "baseline": _BaselineDriver}


def run_step(ctx: Context, kind: str, scale: float) -> dict:
    """One recorder at one camera rate scale; returns the step's result (JSON-able)."""
    rig = ctx.rig
    label = f"{kind} x{scale:g}"
    step_dir = ctx.out_dir / f"{kind}_x{scale:g}"
    data_dir = step_dir / "recording"
    logs = ctx.out_dir / "logs"
    truth_path = step_dir / "truth.jsonl"
    partial_path = step_dir / "truth.jsonl.partial"
    step_dir.mkdir(parents=True)
    task = ctx.progress.add_task(f"  {label}", total=ctx.seconds, detail="starting recorder")
    started = time.monotonic()
    quiet = settle_machine(ctx.progress, ctx.quiet_wait_s)
    driver = robot = None
    try:
        driver = DRIVERS[kind](ctx, data_dir, logs / f"{kind}_x{scale:g}_recorder.log")
        ctx.progress.update(task, detail="starting robot")
        robot_params = {"rig": ctx.rig_arg, "camera_rate_scale": float(scale), "truth_out": str(truth_path),
                        # a safety net: the robot ends by itself should the bench die
                        "duration_s": float(STREAMS_TIMEOUT_S + ctx.warmup_s + ctx.seconds + 60)}
        robot = ctx.spawn("synthetic_robot", "collector.drivers.synthetic_node", robot_params,
                          logs / f"{kind}_x{scale:g}_robot.log")
        ctx.progress.update(task, detail="waiting for streams")
        driver.wait_streams(robot)
        time.sleep(ctx.warmup_s)

        driver.arm()
        start_ns = time.time_ns()
        cpu0, robot_cpu0 = cpu_seconds(driver.process.pid), cpu_seconds(robot.pid)
        everyone0 = user_process_cpu()
        samples = [(start_ns, truth_progress_ns(partial_path))]
        while (elapsed := (time.time_ns() - start_ns) / NS) < ctx.seconds:
            for process in (driver.process, robot):
                if not process.alive():
                    raise BenchError(f"{process.name} exited during the window:\n{process.log_tail()}")
            cpu = (cpu_seconds(driver.process.pid) or cpu0) - cpu0
            ctx.progress.update(task, completed=elapsed,
                                detail=f"recording, recorder CPU {100 * cpu / max(elapsed, 1e-3):.0f}%")
            time.sleep(0.25)
            samples.append((time.time_ns(), truth_progress_ns(partial_path)))
        end_ns = time.time_ns()
        cpu1, robot_cpu1 = cpu_seconds(driver.process.pid), cpu_seconds(robot.pid)
        everyone1 = user_process_cpu()
        rss = rss_bytes(driver.process.pid)
        samples.append((end_ns, truth_progress_ns(partial_path)))
        ctx.progress.update(task, completed=ctx.seconds, detail="stopping")
        stop_started = time.monotonic()
        driver.disarm()
        stop_s = time.monotonic() - stop_started
        driver.close(ctx)
        ctx.stop(robot)
        ctx.progress.update(task, detail="judging")

        truth = read_truth(truth_path if truth_path.exists() else partial_path)
        stamps, reported = driver.recorded_stamps(rig, (start_ns, end_ns))
        return _judge(ctx, kind, scale, truth, stamps, reported, start_ns=start_ns, end_ns=end_ns,
                      progress=samples, cpu=(cpu0, cpu1), robot_cpu=(robot_cpu0, robot_cpu1),
                      other_cpu=other_cpu_seconds(everyone0, everyone1, {os.getpid(), driver.process.pid, robot.pid}),
                      quiet=quiet,
                      rss=rss, stop_s=stop_s, step_s=time.monotonic() - started)
    except CollectorError as err:  # a dead process, a refused service, an unreadable recording
        return {"recorder": kind, "scale": scale, "error": str(err), "lossless": False,
                "step_s": time.monotonic() - started}
    finally:
        if driver is not None:
            try:
                driver.close(ctx)
            except Exception:  # cleanup must not mask the step's own error
                pass
        if robot is not None:
            ctx.stop(robot)
        ctx.progress.remove_task(task)
        if not ctx.keep:
            shutil.rmtree(step_dir, ignore_errors=True)


def publisher_pace(samples: list[tuple[int, int | None]]) -> tuple[float, float, float]:
    """From (wall ns, robot progress ns) samples over the window: the robot's pace and lag.

    Returns the pace (least-squares slope of progress over wall time: 1.0 = on
    schedule), the lag at the end and the largest lag (s). A slope is robust to a
    momentary stall at either end of the window, which a two-point rate is not.
    """
    points = np.array([(t, p) for t, p in samples if p is not None], dtype=np.float64)
    if len(points) < 3:
        return 0.0, float("inf"), float("inf")
    wall, progress = points[:, 0] - points[0, 0], points[:, 1] - points[0, 0]
    slope = float(np.polyfit(wall, progress, 1)[0])
    lags = (wall - progress) / NS
    return slope, float(lags[-1]), float(lags.max())


def settle_machine(progress: Progress, max_wait_s: float) -> tuple[float, float]:
    """Write back dirty files, then wait (at most ``max_wait_s`` in all) until other processes leave
    the machine idle (:func:`bench.machine.wait_for_quiet`); returns (busy %, waited s).

    Busy is CPU of every user process but this one, % of one core over 1 s. No
    node of this run is running then, so any load is someone else's and would
    skew the step. Dirty file data is written back (``os.sync``) first.
    """
    task = progress.add_task("  machine", total=None, detail="checking it is idle")
    started = time.monotonic()
    # The previous step's files: a buffered recorder leaves GBs of dirty pages (and a
    # deleted recording, freed blocks) that the kernel would write back during the next
    # step, whichever recorder that is. Settle them first.
    progress.update(task, detail="writing back the previous step's files")
    os.sync()

    def busy(percent: float, waited: float) -> None:
        progress.update(task, detail=f"busy {percent:.0f}% with other work; waiting ({waited:.0f} s)")

    try:
        busy_pct, _ = wait_for_quiet(max(0.0, max_wait_s - (time.monotonic() - started)), max_pct=QUIET_MAX_PCT,
                                     on_busy=busy)
        return busy_pct, time.monotonic() - started
    finally:
        progress.remove_task(task)


def _judge(ctx: Context, kind: str, scale: float, truth, stamps, reported, *, start_ns, end_ns, progress, cpu,
           robot_cpu, other_cpu, quiet, rss, stop_s, step_s) -> dict:
    rig, sizes = ctx.rig, ctx.sizes
    window_s = (end_ns - start_ns) / NS
    captures = [stream_capture(s.name, truth.get(s.name), stamps[s.name], (start_ns, end_ns)) for s in rig.streams]
    published = sum(c.published for c in captures)
    captured = sum(c.captured for c in captures)
    rates = scaled_rates(rig, scale)
    requested = sum(rates[name] * sizes[name] for name in rates) / MB
    keep_up, lag_s, max_lag_s = publisher_pace(progress)
    # what the robot really put out: the schedule, slowed by however much it fell behind
    offered = requested * min(1.0, keep_up)
    publisher_limited = keep_up < KEEP_UP_MIN or lag_s > LAG_MAX_S
    lossless = all(c.published > 0 and c.captured == c.published for c in captures)
    worst = min(captures, key=lambda c: c.capture)

    def percent(pair):
        first, last = pair
        return None if first is None or last is None else 100.0 * (last - first) / window_s

    return {
        "recorder": kind,
        "scale": scale,
        "window_s": window_s,
        "requested_mbps": requested,
        "offered_mbps": offered,
        "publisher_keep_up": keep_up,
        "publisher_lag_s": lag_s,
        "publisher_max_lag_s": max_lag_s,
        "publisher_limited": publisher_limited,
        "published": published,
        "captured": captured,
        "capture_pct": 100.0 * captured / published if published else 0.0,
        "min_stream_capture_pct": 100.0 * worst.capture,
        "worst_stream": worst.stream,
        "lossless": lossless,
        "recorder_cpu_pct": percent(cpu),
        "robot_cpu_pct": percent(robot_cpu),
        # every other user process (not the recorder, the robot or this bench): someone else's load
        "other_cpu_pct": 100.0 * other_cpu / window_s,
        "busy_before_pct": quiet[0],
        "waited_for_quiet_s": quiet[1],
        "recorder_rss_mb": rss / MB if rss else None,
        "stop_s": stop_s,
        "step_s": step_s,
        "streams": {c.stream: {**c.to_dict(), "requested_hz": rates[c.stream]} for c in captures},
        "recorder_reported": reported,
    }


# --------------------------------------------------------------------------- tables


def _verdict(step: dict) -> str:
    if step.get("error"):
        return "[red]error[/red]"
    text = "[green]loss-free[/green]" if step["lossless"] else "[red]lossy[/red]"
    if step["publisher_limited"]:
        text += " [yellow](publisher-limited)[/yellow]"
    if _noisy(step):
        text += " [yellow](other load)[/yellow]"
    if step.get("disturbed_attempts"):
        text += f" (attempt {len(step['disturbed_attempts']) + 1})"
    return text


def _cpu(value) -> str:
    return "-" if value is None else f"{value:.0f}%"


def step_line(step: dict) -> str:
    """The step's figures in one line (printed under its table)."""
    if step.get("error"):
        return f"{step['recorder']} x{step['scale']:g}: [red]error[/red]: {step['error']}"
    return (f"{step['recorder']} x{step['scale']:g}: {_verdict(step)}; requested {step['requested_mbps']:.0f} MB/s, "
            f"offered {step['offered_mbps']:.0f} MB/s (robot at {100 * step['publisher_keep_up']:.1f}% of "
            f"schedule, {step['publisher_lag_s'] * 1000:.0f} ms behind at the end); recorder CPU "
            f"{_cpu(step['recorder_cpu_pct'])}, RSS {step['recorder_rss_mb'] or 0:.0f} MB, stop "
            f"{step['stop_s']:.1f} s; robot CPU {_cpu(step['robot_cpu_pct'])}; other processes "
            f"{_cpu(step['other_cpu_pct'])}{_other_load(step)}")


def _other_load(step: dict) -> str:
    other = step.get("other_cpu_pct")
    if other is None or other <= OTHER_LOAD_WARN_PCT:
        return ""
    return f" [yellow](other load {other:.0f}% during the window: a noisy step)[/yellow]"


def step_table(step: dict) -> Table | None:
    """Per-stream capture of one step (None for a step that failed)."""
    if step.get("error"):
        return None
    table = Table(title=f"{step['recorder']} x{step['scale']:g}", box=box.SIMPLE)
    for name, justify in (("stream", "left"), ("Hz", "right"), ("published", "right"), ("recorded", "right"),
                          ("lost", "right"), ("capture", "right")):
        table.add_column(name, justify=justify)
    for name, s in step["streams"].items():
        style = "" if s["lost"] == 0 and s["published"] else "red"
        extra = "".join(f" +{s[k]} {k}" for k in ("duplicates", "foreign") if s[k])
        table.add_row(name, f"{s['requested_hz']:g}", str(s["published"]), str(s["captured"]) + extra,
                      str(s["lost"]), f"{s['capture_pct']:.2f}%", style=style)
    table.add_row("all", "", str(step["published"]), str(step["captured"]), str(step["published"] - step["captured"]),
                  f"{step['capture_pct']:.2f}%", style="bold")
    return table


def steps_table(steps: list[dict]) -> Table:
    table = Table(title="All steps", box=box.SIMPLE_HEAVY)
    for name in ("recorder", "scale", "requested MB/s", "offered MB/s", "robot vs schedule", "capture",
                 "worst stream", "recorder CPU", "robot CPU", "other CPU", "verdict"):
        table.add_column(name, justify="left" if name in ("recorder", "worst stream", "verdict") else "right")
    for s in steps:
        if s.get("error"):
            table.add_row(s["recorder"], f"x{s['scale']:g}", "", "", "", "", "", "", "", "", _verdict(s))
            continue
        table.add_row(s["recorder"], f"x{s['scale']:g}", f"{s['requested_mbps']:.0f}", f"{s['offered_mbps']:.0f}",
                      f"{100 * s['publisher_keep_up']:.1f}%", f"{s['capture_pct']:.2f}%",
                      "-" if s["lossless"] else f"{s['worst_stream']} {s['min_stream_capture_pct']:.2f}%",
                      _cpu(s["recorder_cpu_pct"]), _cpu(s["robot_cpu_pct"]), _cpu(s["other_cpu_pct"]), _verdict(s))
    return table


def summarize(steps: list[dict], kind: str, nominal_scale: float) -> dict:
    """Figures of one recorder over its ladder (steps in ladder order)."""
    mine = [s for s in steps if s["recorder"] == kind]
    nominal = next((s for s in mine if s["scale"] == nominal_scale and not s.get("error")), None)
    best = None
    first_lossy = None
    for step in mine:
        if not step["lossless"]:
            first_lossy = step
            break
        if best is None or step["offered_mbps"] > best["offered_mbps"]:
            best = step
    return {
        "recorder": kind,
        "nominal_scale": nominal_scale,
        "nominal_capture_pct": nominal["capture_pct"] if nominal else None,
        "nominal_min_stream_capture_pct": nominal["min_stream_capture_pct"] if nominal else None,
        "nominal_cpu_pct": nominal["recorder_cpu_pct"] if nominal else None,
        "nominal_offered_mbps": nominal["offered_mbps"] if nominal else None,
        "loss_free_mbps": best["offered_mbps"] if best else 0.0,
        "loss_free_scale": best["scale"] if best else None,
        "loss_free_cpu_pct": best["recorder_cpu_pct"] if best else None,
        # no lossy step seen: the recorder's limit lies beyond what was offered
        "loss_free_is_lower_bound": first_lossy is None,
        "loss_free_publisher_limited": bool(best and best["publisher_limited"]),
        "first_lossy_scale": first_lossy["scale"] if first_lossy else None,
        "first_lossy_offered_mbps": first_lossy.get("offered_mbps") if first_lossy else None,
        "first_lossy_capture_pct": first_lossy.get("capture_pct") if first_lossy else None,
        "first_lossy_error": first_lossy.get("error") if first_lossy else None,
    }


def ratio(ours: dict, baseline: dict) -> dict:
    """ours / baseline loss-free bandwidth, and whether that is a bound rather than a value."""
    if not ours or not baseline or not baseline["loss_free_mbps"]:
        return {"value": None, "kind": "undefined"}
    value = ours["loss_free_mbps"] / baseline["loss_free_mbps"]
    if ours["loss_free_is_lower_bound"] and baseline["loss_free_is_lower_bound"]:
        kind = "undefined"  # neither limit was reached
    elif ours["loss_free_is_lower_bound"]:
        kind = "lower_bound"
    elif baseline["loss_free_is_lower_bound"]:
        kind = "upper_bound"
    else:
        kind = "value"
    return {"value": value, "kind": kind}


def summary_table(summaries: dict[str, dict], ratio_info: dict, nominal_scale: float) -> Table:
    table = Table(title="Summary: Bao'an rig, collector recorder vs deserialising rclpy baseline",
                  box=box.SIMPLE_HEAVY)
    kinds = [k for k in RECORDERS if k in summaries]
    table.add_column("")
    for kind in kinds:
        table.add_column(kind, justify="right")
    table.add_column("ours / baseline", justify="right")

    def cell(kind, key, fmt):
        value = summaries[kind][key]
        return "-" if value is None else fmt.format(value)

    def bandwidth(kind):
        s = summaries[kind]
        text = f"{s['loss_free_mbps']:.0f} MB/s"
        if s["loss_free_scale"] is None:
            return "none"
        text += f" (x{s['loss_free_scale']:g})"
        if s["loss_free_is_lower_bound"]:
            text = ">= " + text
        if s["loss_free_publisher_limited"]:
            text += " publisher-limited"
        return text

    def first_lossy(kind):
        s = summaries[kind]
        if s["first_lossy_scale"] is None:
            return "none seen"
        if s["first_lossy_error"]:
            return f"x{s['first_lossy_scale']:g}: error"
        return (f"x{s['first_lossy_scale']:g}: {s['first_lossy_offered_mbps']:.0f} MB/s, "
                f"{s['first_lossy_capture_pct']:.2f}%")

    def both(key):
        if len(kinds) == 2 and all(summaries[k][key] is not None for k in kinds):
            return summaries["ours"][key], summaries["baseline"][key]
        return None

    at = "nominal" if nominal_scale == 1 else f"x{nominal_scale:g}"
    rows = [
        (f"capture at {at} (all streams)", lambda k: cell(k, "nominal_capture_pct", "{:.2f}%"), ""),
        (f"worst stream at {at}", lambda k: cell(k, "nominal_min_stream_capture_pct", "{:.2f}%"), ""),
        (f"recorder CPU at {at} (100% = 1 core)", lambda k: cell(k, "nominal_cpu_pct", "{:.0f}%"),
         (lambda p: f"{p[0] / p[1]:.2f}x" if p and p[1] else "")(both("nominal_cpu_pct"))),
        (f"offered at {at}", lambda k: cell(k, "nominal_offered_mbps", "{:.0f} MB/s"), ""),
        ("loss-free bandwidth", bandwidth, _ratio_text(ratio_info)),
        ("first lossy step", first_lossy, ""),
    ]
    for name, render, extra in rows:
        table.add_row(name, *[render(k) for k in kinds], extra)
    return table


def _ratio_text(info: dict) -> str:
    value = info.get("value")
    if value is None:
        return "n/a"
    prefix = {"lower_bound": ">= ", "upper_bound": "<= ", "undefined": "? "}.get(info["kind"], "")
    return f"{prefix}{math.floor(value * 100) / 100:.2f}x"  # floored: 1.995 must not read as 2.00


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=None, help="recorded window per step, s (default 8)")
    parser.add_argument("--scales", default=None,
                        help=f"camera rate scales, comma separated (default {','.join(map(str, DEFAULT_SCALES))})")
    parser.add_argument("--rig", default=DEFAULT_RIG, help=f"rig name or YAML path (default {DEFAULT_RIG})")
    parser.add_argument("--recorders", default=",".join(RECORDERS), help="ours,baseline (default both)")
    parser.add_argument("--quick", action="store_true", help="smoke run: scales 1,2, 3 s windows, 2 min budget")
    parser.add_argument("--budget-s", type=float, default=None, help="start no step past this runtime (default 600)")
    parser.add_argument("--warmup", type=float, default=1.0, help="s of steady flow before each window (default 1)")
    parser.add_argument("--quiet-wait", type=float, default=60.0,
                        help="before each step, wait up to this many s for other load to end (default 60)")
    parser.add_argument("--retries", type=int, default=2,
                        help="run a step again (up to this many times) when other processes loaded the machine "
                             "during its window (default 2)")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="recordings and logs (default: a new folder in the temp dir; recordings are "
                             "deleted after each step unless --keep)")
    parser.add_argument("--keep", action="store_true", help="keep every step's recording and ground truth")
    parser.add_argument("--json-out", type=Path, default=None, help="write all results as JSON here")
    args = parser.parse_args(argv)
    args.seconds = args.seconds if args.seconds is not None else (3.0 if args.quick else 8.0)
    args.budget_s = args.budget_s if args.budget_s is not None else (120.0 if args.quick else 600.0)
    if args.scales:
        args.scales = [float(x) for x in args.scales.split(",") if x.strip()]
    else:
        args.scales = list(QUICK_SCALES if args.quick else DEFAULT_SCALES)
    args.recorders = [r.strip() for r in args.recorders.split(",") if r.strip()]
    bad = [r for r in args.recorders if r not in RECORDERS]
    if bad or not args.recorders:
        parser.error(f"--recorders: expected some of {','.join(RECORDERS)}, got {bad or args.recorders}")
    if args.retries < 0:
        parser.error("--retries must be >= 0")
    if args.seconds <= 0 or any(s <= 0 for s in args.scales):
        parser.error("--seconds and --scales must be positive")
    return args


def _noisy(step: dict) -> bool:
    """Other people's processes loaded the machine during the step's window."""
    return (step.get("other_cpu_pct") or 0.0) > OTHER_LOAD_WARN_PCT


def _brief(step: dict) -> dict:
    """What is kept of a step that was run again because of other load."""
    keys = ("other_cpu_pct", "lossless", "capture_pct", "min_stream_capture_pct", "worst_stream",
            "recorder_cpu_pct", "offered_mbps", "error")
    return {key: step[key] for key in keys if key in step}


def check_domain_quiet(domain: str, wait_s: float = 1.5) -> None:
    """Refuse to run on a ROS domain where other nodes live: they would mix into the measurement.

    Raises:
        BenchError: naming the nodes found and how to choose another domain.
    """
    from rclpy.node import Node

    node = Node("record_throughput_probe")
    try:
        time.sleep(wait_s)  # discovery on localhost takes well under a second
        others = sorted(f"{ns.rstrip('/')}/{name}" for name, ns in node.get_node_names_and_namespaces()
                        if name != node.get_name())
    finally:
        node.destroy_node()
    if others:
        raise BenchError(f"ROS_DOMAIN_ID {domain} is in use (nodes: {', '.join(others)}); stop them or set "
                         "BENCH_ROS_DOMAIN_ID to a free domain")


def run(args: argparse.Namespace) -> dict:
    """Run the ladders; returns the results (what --json-out writes)."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    domain = setup_environment()
    rig = load_rig(args.rig)
    rig_arg = str(Path(args.rig).resolve()) if args.rig.endswith((".yaml", ".yml")) else args.rig
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="record_throughput_"))
    out_dir.mkdir(parents=True, exist_ok=True)
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)  # Ctrl-C stays a KeyboardInterrupt here
    began = time.monotonic()
    try:
        check_domain_quiet(domain)
    except BaseException:
        rclpy.try_shutdown()
        raise
    steps: list[dict] = []
    skipped: list[dict] = []
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                        TimeElapsedColumn(), console=console, refresh_per_second=4)
    ctx = Context(rig=rig, rig_arg=rig_arg, sizes=message_sizes(rig), out_dir=out_dir, seconds=args.seconds,
                  warmup_s=args.warmup, keep=args.keep, quiet_wait_s=args.quiet_wait, progress=progress)
    console.print(f"record_throughput: rig {rig.rig}, ROS_DOMAIN_ID={domain}, {os.cpu_count()} CPUs, "
                  f"{args.seconds:g} s per step, scales {', '.join(f'x{s:g}' for s in args.scales)}, "
                  f"budget {args.budget_s:.0f} s; logs in {out_dir / 'logs'}")
    active = {kind: True for kind in args.recorders}
    lossy_run = {kind: 0 for kind in args.recorders}
    try:
        with progress:
            overall = progress.add_task("steps", total=len(args.scales) * len(args.recorders), detail="")
            for scale in args.scales:
                for kind in args.recorders:
                    if not active[kind]:
                        progress.advance(overall)
                        continue
                    step = None
                    disturbed: list[dict] = []
                    for _attempt in range(1 + args.retries):
                        durations = [s["step_s"] for s in steps + disturbed]
                        estimate = sum(durations) / len(durations) if durations else DEFAULT_STEP_ESTIMATE_S
                        if time.monotonic() - began + estimate > args.budget_s:
                            break
                        if step is not None:
                            disturbed.append(step)
                            progress.console.print(f"[yellow]{kind} x{scale:g}: other processes used "
                                                   f"{step['other_cpu_pct']:.0f}% of a core during the window; "
                                                   "running the step again[/yellow]")
                        progress.update(overall, detail=f"{kind} x{scale:g}")
                        step = run_step(ctx, kind, scale)
                        if not _noisy(step):
                            break
                    if step is None:
                        skipped.append({"recorder": kind, "scale": scale, "reason": "budget"})
                        progress.advance(overall)
                        continue
                    step["disturbed_attempts"] = [_brief(s) for s in disturbed]
                    steps.append(step)
                    table = step_table(step)
                    if table is not None:
                        progress.console.print(table)
                    progress.console.print(step_line(step))
                    lossy_run[kind] = 0 if step["lossless"] else lossy_run[kind] + 1
                    if lossy_run[kind] >= 2:
                        active[kind] = False  # two lossy steps in a row: this recorder's limit is found
                    progress.advance(overall)
    finally:
        ctx.stop_all()
        rclpy.try_shutdown()
    nominal = 1.0 if 1.0 in args.scales else args.scales[0]
    summaries = {kind: summarize(steps, kind, nominal) for kind in args.recorders}
    ratio_info = ratio(summaries.get("ours"), summaries.get("baseline"))
    runtime = time.monotonic() - began
    console.print(steps_table(steps))
    console.print(summary_table(summaries, ratio_info, nominal))
    ours = summaries.get("ours")
    if ours:
        met_nominal = nominal == 1.0 and ours["nominal_min_stream_capture_pct"] == 100.0
        met_ratio = ratio_info["value"] is not None and ratio_info["value"] >= 2 and ratio_info["kind"] in (
            "value", "lower_bound")
        console.print(f"targets: 100% at nominal: {'met' if met_nominal else 'NOT met'}; "
                      f">= 2x baseline loss-free bandwidth: {'met' if met_ratio else 'NOT met / not shown'} "
                      f"({_ratio_text(ratio_info)})")
    if skipped:
        names = ", ".join(f"{s['recorder']} x{s['scale']:g}" for s in skipped)
        console.print(f"skipped for the time budget: {names}")
    console.print(f"runtime {runtime:.0f} s; logs in {out_dir / 'logs'}")
    return {
        "benchmark": "record_throughput",
        "rig": rig.rig,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "rmw": os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp"),
                    "fastdds_profile": os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE")},
        "config": {"seconds": args.seconds, "scales": args.scales, "recorders": args.recorders,
                   "warmup_s": args.warmup, "budget_s": args.budget_s,
                   "retries": args.retries, "quiet_wait_s": args.quiet_wait, "ros_domain_id": domain,
                   "keep_up_min": KEEP_UP_MIN, "lag_max_s": LAG_MAX_S, "message_bytes": ctx.sizes},
        "steps": steps,
        "skipped": skipped,
        "summary": summaries,
        "ratio_loss_free_bandwidth": ratio_info,
        "runtime_s": runtime,
        "out_dir": str(out_dir),
    }


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C and SIGTERM (CI timeout, kill) stop every child process; SIGINT too when this was
    # started in the background by a shell without job control, which ignores it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        results = run(args)
    except KeyboardInterrupt:
        console.print("interrupted; every process this run started has been stopped")
        return 130
    except CollectorError as err:
        console.print(f"error: {err}")
        return 2
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        console.print(f"results: {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
