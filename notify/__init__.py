"""The notifier: alert changes from the outbox to webhooks and email (`python -m notify`)."""
