"""Planning: a topology turned into steps (argv and undo), deterministically and purely."""
