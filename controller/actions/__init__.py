"""Executors: one small module per resource kind, each action idempotent and safe to retry."""
