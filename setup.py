"""ament_python package `collector`; also a plain pip-installable distribution."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "collector"
HERE = Path(__file__).parent


def data_tree(folder: str) -> list[tuple[str, list[str]]]:
    """Install a data folder under share/collector/<folder>, keeping its layout."""
    entries: dict[str, list[str]] = {}
    for path in sorted((HERE / folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(HERE)
            entries.setdefault(f"share/{PACKAGE}/{relative.parent}", []).append(str(relative))
    return sorted(entries.items())


ROS_WHEELS = [
    "ros-kilted-rclpy",
    "ros-kilted-std-msgs",
    "ros-kilted-sensor-msgs",
    "ros-kilted-geometry-msgs",
    "ros-kilted-std-srvs",
    "ros-kilted-diagnostic-msgs",
    "ros-kilted-rosgraph-msgs",
    "ros-kilted-rmw-fastrtps-cpp",
]

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Data collection toolkit for humanoid-robot demonstrations (ROS 2 capture, sync, VLA export)",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *data_tree("datasets"),
        *data_tree("launch"),
        *data_tree("config"),
        *data_tree("sim"),
    ],
    # mcap: collector/bag writes uncompressed chunks itself, byte for byte as mcap's Writer
    # does (tests/bag/test_fast_writer.py compares the two files), and uses mcap internals
    # (Writer.flush, reader.breakup_chunk). tests/bag passes with 1.5.0 and 1.6.0; 1.4.0 and
    # older lack Writer.flush. A newer minor may change the bytes: raise the cap after
    # running tests/bag with it.
    install_requires=["numpy", "pyyaml", "mcap>=1.5,<1.7", "rich", "matplotlib", "pillow", "h5py", "pyarrow", "av"],
    extras_require={
        "ros": ROS_WHEELS,
        "ray": ["ray"],
        "sim": ["mujoco>=3.2"],
        "camera": ["opencv-python-headless<5"],
        "loader": ["torch"],
        "test": ["pytest", "pytest-timeout", "rosbags>=0.10", "ray", "mujoco>=3.2", "opencv-python-headless<5",
                 "hypothesis", "scikit-image", "ruff>=0.17,<0.18"],
    },
    zip_safe=True,
    entry_points={
        "console_scripts": [
            "collector = collector.cli:main",
            "recorder = collector.ros.recorder_node:main",
            "synthetic_robot = collector.drivers.synthetic_node:main",
            "sim_robot = collector.sim.bridge_node:main",
            "camera = collector.drivers.camera_node:main",
            "replay = collector.drivers.replay_node:main",
        ],
    },
)
