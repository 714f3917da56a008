"""Studies researchers run with nvdla-fi; each module is also a script."""
