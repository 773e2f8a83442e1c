"""A simulated fleet: sensors publishing telemetry and a price feed, over MQTT per DESIGN.md."""
