"""The ingester: MQTT subscriber → bounded queue → batch writers (COPY, dedup, rollups, dead
letters, stream events + NOTIFY); alert rules per batch; rollup refresher and pruner.

QoS 1 messages are acknowledged to the broker only after the rows they carry are committed.
"""
