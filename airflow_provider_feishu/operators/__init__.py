"""Operators that send Feishu messages and act on their reading."""
