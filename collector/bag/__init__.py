"""The raw tier on disk: rosbag2 bag directories with MCAP storage.

Modules, each one idea, imported directly (this package imports nothing heavy):

- :mod:`collector.bag.msgdef`   ``ros2msg`` message definitions as rosbag2 stores them
- :mod:`collector.bag.metadata` rosbag2 ``metadata.yaml`` (versions 4..9) and QoS profiles
- :mod:`collector.bag.writer`   :class:`~collector.bag.writer.BagWriter`, crash-safe MCAP bag writer
- :mod:`collector.bag.reader`   :func:`~collector.bag.reader.open_bag`, bag / MCAP reader
- :mod:`collector.bag.inspect`  per-topic counts, rates, gaps and header-stamp skew
- :mod:`collector.bag.recover`  rebuild a bag whose writer was killed mid-write
- :mod:`collector.bag.salvage`  the complete records of one cut MCAP file, into a new file

Nothing here imports ``rclpy``: bags are written on the rig and read anywhere.
Timestamps are ``int`` nanoseconds throughout.
"""
