"""Test and benchmark equipment (not shipped): the scripted OpenAI-compatible server."""
