"""A simulated fleet: sensors publishing telemetry and price ticks over MQTT, each device on its
own connection with a store-and-forward buffer, answering commands (docs/simulator.md)."""
