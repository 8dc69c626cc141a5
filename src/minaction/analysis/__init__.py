"""Statistics and tables over finished runs."""
