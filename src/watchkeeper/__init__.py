"""Watchkeeper: a security runtime for AI agents that run code."""

__version__ = "0.1.0"
