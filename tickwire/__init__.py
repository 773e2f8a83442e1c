"""What tickwire's services share: settings, the MQTT contract and adapter, broker accounts,
the stream journal and its events, logging. Never imports `devstack` (the `make up` stack)."""
