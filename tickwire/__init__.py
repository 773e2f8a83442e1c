"""What tickwire's services share: settings, the MQTT contract, logging, embedded servers."""
