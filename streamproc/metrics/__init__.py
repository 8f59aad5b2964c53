"""Pure metric code: folds of events into facts, no Faust and no I/O."""
