"""A simulated fleet: sensors publishing telemetry and a price feed, over MQTT (the contract)."""
