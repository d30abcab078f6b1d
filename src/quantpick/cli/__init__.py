"""The command line: flags in, renderers out. Logic lives in the core modules."""
