"""CSV exports rendered from the tables' read model (see docs/exports.md)."""
