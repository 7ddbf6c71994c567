"""Hooks: FeishuHook (sync), its async client, and the webhook bot."""
