"""Sensors that wait on Feishu."""
