"""The alert engine: conditions evaluated on committed data, OFFLINE timers, alert writes."""
