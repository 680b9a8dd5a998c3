"""The `seiflow` command line: one small module per command."""
