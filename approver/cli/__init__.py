"""Command-line entry points: argument parsing only; each command calls into the layers below."""
