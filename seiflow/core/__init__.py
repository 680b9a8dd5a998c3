"""Units, small shared types, registries and errors used by every layer."""
