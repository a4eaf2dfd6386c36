"""Reliability tests: crash safety (SIGKILLed sweep and dispatcher), mail server outage, conflicting edits."""
