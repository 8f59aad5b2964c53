"""The HTTP service (`streamproc web`): export downloads today, the live API later (/api/v1)."""
