"""Label store and structure/data formats."""
