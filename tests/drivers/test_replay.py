"""Replay timing without ROS: deadlines, rate, offset, loop, lateness, clock, settings."""

from __future__ import annotations

import threading
from typing import NamedTuple

import pytest

from collector.bag.metadata import QosProfile
from collector.drivers.replay import (
    DEFAULT_QOS,
    LATE_NS,
    Player,
    ReplayConfig,
    ReplayError,
    config_from_parameters,
    parse_topics,
    replay_qos,
    select_topics,
)
from collector.errors import CollectorError

MS = 1_000_000
T0 = 1_700_000_000 * 1_000_000_000  # log times are system-clock ns


class Msg(NamedTuple):
    topic: str
    log_time_ns: int
    data: bytes


class FakeTime:
    """A monotonic clock that only moves when slept on (or when told to)."""

    def __init__(self, start_ns: int = 5_000 * MS):
        self.now = start_ns
        self.sleeps: list[float] = []

    def now_ns(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += round(seconds * 1e9)


class Sent(list):
    """publish(topic, data) that records (wall ns since start, topic, data), optionally slowly."""

    def __init__(self, clock: FakeTime, cost_ns: int = 0):
        super().__init__()
        self.clock, self.start, self.cost_ns = clock, clock.now, cost_ns

    def __call__(self, topic: str, data: bytes) -> None:
        self.append((self.clock.now - self.start, topic, data))
        self.clock.now += self.cost_ns


def episode(*offsets_ms: int, topic: str = "/a") -> list[Msg]:
    return [Msg(topic, T0 + offset * MS, f"{topic}{i}".encode()) for i, offset in enumerate(offsets_ms)]


def make(messages, clock: FakeTime, cost_ns: int = 0, **kwargs):
    sent = Sent(clock, cost_ns)
    player = Player(lambda: iter(messages), sent, now_ns=clock.now_ns, sleep=clock.sleep, **kwargs)
    return player, sent


def test_messages_are_sent_at_their_log_time_spacing():
    clock = FakeTime()
    messages = sorted(episode(0, 10, 20, 500) + episode(5, 15, topic="/b"), key=lambda m: m.log_time_ns)
    player, sent = make(messages, clock)
    stats = player.run()
    assert [(at, topic) for at, topic, _ in sent] == [
        (0, "/a"), (5 * MS, "/b"), (10 * MS, "/a"), (15 * MS, "/b"), (20 * MS, "/a"), (500 * MS, "/a")]
    assert [data for _, _, data in sent] == [m.data for m in messages]
    assert stats.messages == {"/a": 4, "/b": 2} and stats.total == 6
    assert stats.late == 0 and stats.max_lag_ns == 0 and stats.passes == 1
    assert max(clock.sleeps) <= 0.1, "sleeps are bounded so that stop() is honoured"


@pytest.mark.parametrize("rate", [2.0, 0.5, 10.0])
def test_rate_scales_the_spacing(rate):
    clock = FakeTime()
    player, sent = make(episode(0, 100, 300, 1000), clock, rate=rate)
    player.run()
    assert [at for at, _, _ in sent] == [round(offset * MS / rate) for offset in (0, 100, 300, 1000)]


def test_start_offset_skips_the_first_seconds_and_plays_the_rest_from_there():
    clock = FakeTime()
    player, sent = make(episode(0, 100, 250, 400), clock, start_offset_ns=200 * MS, rate=2.0)
    player.run()
    assert [(at, data) for at, _, data in sent] == [(25 * MS, b"/a2"), (100 * MS, b"/a3")]


def test_origin_is_the_episode_start_not_the_first_played_message():
    """With a subset of topics, the first played message keeps its delay from the episode start."""
    clock = FakeTime()
    player, sent = make(episode(300, 400, topic="/b"), clock, origin_ns=T0)
    player.run()
    assert [at for at, _, _ in sent] == [300 * MS, 400 * MS]


def test_late_messages_go_at_once_in_order_and_the_lag_is_counted():
    clock = FakeTime()
    # each publish costs 15 ms, messages are 10 ms apart: the player falls behind
    player, sent = make(episode(0, 10, 20, 30, 200), clock, cost_ns=15 * MS)
    stats = player.run()
    assert [data for _, _, data in sent] == [b"/a0", b"/a1", b"/a2", b"/a3", b"/a4"]
    assert [at for at, _, _ in sent] == [0, 15 * MS, 30 * MS, 45 * MS, 200 * MS]
    assert stats.late == 3 and stats.max_lag_ns == 15 * MS
    lags = [at - due * MS for (at, _, _), due in zip(sent, (0, 10, 20, 30, 200))]
    assert stats.late == sum(lag > LATE_NS for lag in lags)


def test_out_of_order_input_is_never_reordered():
    """A message logged before its predecessor is due at once and sent after it."""
    clock = FakeTime()
    player, sent = make([Msg("/a", T0, b"0"), Msg("/a", T0 + 50 * MS, b"1"), Msg("/a", T0 + 40 * MS, b"2")], clock)
    stats = player.run()
    assert [(at, data) for at, _, data in sent] == [(0, b"0"), (50 * MS, b"1"), (50 * MS, b"2")]
    assert stats.late == 1 and stats.max_lag_ns == 10 * MS


def test_loop_starts_each_pass_where_the_last_message_was_due_until_stopped():
    clock = FakeTime()
    sent = Sent(clock)
    messages = episode(0, 100, 300)

    def publish(topic, data):
        sent(topic, data)
        if len(sent) == 7:
            player.stop()

    player = Player(lambda: iter(messages), publish, loop=True, now_ns=clock.now_ns, sleep=clock.sleep)
    stats = player.run()
    assert [at // MS for at, _, _ in sent] == [0, 100, 300, 300, 400, 600, 600]
    assert stats.passes == 3 and stats.total == 7 and stats.late == 0


def test_loop_with_an_offset_replays_from_the_offset_every_pass():
    clock = FakeTime()
    sent = Sent(clock)

    def publish(topic, data):
        sent(topic, data)
        if len(sent) == 4:
            player.stop()

    player = Player(lambda: iter(episode(0, 100, 300)), publish, loop=True, start_offset_ns=50 * MS,
                    now_ns=clock.now_ns, sleep=clock.sleep)
    player.run()
    assert [(at // MS, data) for at, _, data in sent] == [(50, b"/a1"), (250, b"/a2"), (300, b"/a1"), (500, b"/a2")]


def test_stop_from_another_thread_ends_a_long_wait_quickly():
    import time

    player = Player(lambda: iter(episode(0, 60_000)), lambda topic, data: None)
    thread = threading.Thread(target=player.run)
    thread.start()
    time.sleep(0.05)
    begin = time.monotonic()
    player.stop()
    thread.join(timeout=2)
    assert not thread.is_alive() and time.monotonic() - begin < 0.5
    assert player.stats.total == 1


def test_clock_is_published_at_the_replayed_log_time_about_every_10_ms():
    clock = FakeTime()
    ticks: list[tuple[int, int]] = []
    sent = Sent(clock)
    player = Player(lambda: iter(episode(0, 100, 200)), sent, rate=2.0, now_ns=clock.now_ns, sleep=clock.sleep,
                    publish_clock=lambda log_ns: ticks.append((clock.now - sent.start, log_ns)))
    stats = player.run()
    assert stats.clock_messages == len(ticks)
    walls = [wall for wall, _ in ticks]
    assert walls[0] == 0 and walls[-1] >= 90 * MS and all(9 * MS <= b - a <= 10 * MS for a, b in zip(walls, walls[1:]))
    assert all(log_ns == T0 + 2 * wall for wall, log_ns in ticks), "replayed time runs at rate x wall time"


def test_wait_until_polls_until_ready_or_times_out():
    clock = FakeTime()
    player, _ = make([], clock)
    answers = iter([False, False, True])
    assert player.wait_until(lambda: next(answers), timeout_s=5.0)
    assert clock.now - 5_000 * MS == 20 * MS
    begin = clock.now
    assert not player.wait_until(lambda: False, timeout_s=0.5)
    assert clock.now - begin == 500 * MS


def test_an_empty_episode_sends_nothing_and_ends_even_when_looping():
    clock = FakeTime()
    player, sent = make([], clock, loop=True)
    stats = player.run()
    assert not sent and stats.total == 0 and stats.passes == 1


@pytest.mark.parametrize("kwargs, needle", [
    ({"rate": 0}, "rate"), ({"rate": -1.0}, "rate"), ({"start_offset_ns": -1}, "start_offset_ns"),
    ({"clock_period_ns": 0}, "clock_period_ns"),
])
def test_player_rejects_bad_arguments(kwargs, needle):
    with pytest.raises(ReplayError, match=needle):
        Player(lambda: iter(()), lambda topic, data: None, **kwargs)


# --------------------------------------------------------------------------- settings


def test_config_defaults_and_topic_parsing():
    config = ReplayConfig(episode="/data/ep")
    assert (config.rate, config.loop, config.start_offset_s, config.topics, config.clock,
            config.wait_for_subscribers_s) == (1.0, False, 0.0, (), False, 0.0)
    assert ReplayConfig(episode="e", topics=" /a, /b ,,/a").topics == ("/a", "/b")
    assert ReplayConfig(episode="e", topics=["/b", "/a"]).topics == ("/b", "/a")
    assert ReplayConfig(episode="e", start_offset_s=1.5).start_offset_ns == 1_500_000_000
    assert parse_topics("") == ()


@pytest.mark.parametrize("kwargs, message", [
    ({"episode": ""}, "episode: expected the path of a raw episode, got ''"),
    ({"rate": 0.0}, "rate: expected a positive number, got 0.0"),
    ({"rate": float("inf")}, "rate: expected a positive number, got inf"),
    ({"rate": "fast"}, "rate: expected a number, got 'fast'"),
    ({"rate": True}, "rate: expected a number, got True"),
    ({"start_offset_s": -1.0}, "start_offset_s: expected a number >= 0, got -1.0"),
    ({"wait_for_subscribers_s": float("nan")}, "wait_for_subscribers_s: expected a number, got nan"),
    ({"loop": "yes"}, "loop: expected true or false, got 'yes'"),
    ({"clock": 1}, "clock: expected true or false, got 1"),
    ({"topics": "joint_states"}, "topics: 'joint_states' is not an absolute topic name"),
    ({"topics": [1, 2]}, "topics: expected topic names"),
])
def test_bad_config_names_the_parameter_and_value(kwargs, message):
    kwargs = {"episode": "/data/ep", **kwargs}
    with pytest.raises(ReplayError) as caught:
        ReplayConfig(**kwargs)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    assert isinstance(caught.value, CollectorError)


def test_config_from_ros_parameter_values():
    config = config_from_parameters({"episode": "/e", "rate": 2, "topics": "/a,/b", "start_offset_s": 1,
                                     "wait_for_subscribers_s": 3, "loop": True, "clock": True})
    assert config == ReplayConfig(episode="/e", rate=2.0, topics=("/a", "/b"), start_offset_s=1.0,
                                  wait_for_subscribers_s=3.0, loop=True, clock=True)
    assert isinstance(config.rate, float)
    assert config_from_parameters({"episode": "/e", "topics": None}).topics == ()
    assert config_from_parameters({"episode": "/e", "topics": ["/x"]}).topics == ("/x",)
    with pytest.raises(ReplayError, match="episode"):
        config_from_parameters({"episode": None})


def test_select_topics_keeps_episode_order_and_names_unknown_ones():
    available = ["/a", "/b", "/c"]
    assert select_topics(available, (), "ep") == available
    assert select_topics(available, ("/c", "/a"), "ep") == ["/a", "/c"]
    with pytest.raises(ReplayError, match=r"topics: '/x' not in episode ep \(topics: /a, /b, /c\)"):
        select_topics(available, ("/a", "/x"), "ep")


def test_qos_comes_from_the_recorded_profiles_else_reliable_depth_10():
    best_effort = QosProfile(reliability="best_effort", depth=5)
    latched = QosProfile(durability="transient_local", depth=1)
    assert replay_qos([best_effort.to_metadata()]) == best_effort
    assert replay_qos([latched.to_metadata(), latched.to_metadata()]) == latched
    assert DEFAULT_QOS == QosProfile(reliability="reliable", depth=10)
    assert replay_qos([]) == DEFAULT_QOS
    assert replay_qos([best_effort.to_metadata(), latched.to_metadata()]) == DEFAULT_QOS, "publishers disagree"
    system_default = dict(best_effort.to_metadata(), reliability="system_default")
    assert replay_qos([system_default]) == DEFAULT_QOS
    # rosbag2 <= Humble wrote integer enums: 2 = best effort
    old = {"history": 1, "depth": 7, "reliability": 2, "durability": 2}
    assert replay_qos([old]) == QosProfile(reliability="best_effort", depth=7)
