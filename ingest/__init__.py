"""The ingester: MQTT subscriber → bounded queue → batch writer (COPY, dedup, rollups, NOTIFY).

QoS 1 messages are acknowledged to the broker only after the rows they carry are committed.
"""
