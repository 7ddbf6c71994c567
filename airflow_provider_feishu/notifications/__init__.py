"""Notifiers for task and DAG callbacks: the app bot (im/v1) and custom-bot webhooks."""
