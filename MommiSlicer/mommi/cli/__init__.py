"""The `mommi` command line: one command over the whole engine."""
