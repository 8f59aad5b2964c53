"""Faust agents: thin loops that parse, call pure code and update tables."""
