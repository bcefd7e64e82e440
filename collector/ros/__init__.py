"""Everything that imports rclpy lives under this package (and the driver nodes)."""
