"""Triggers that wait for Feishu in the triggerer."""
