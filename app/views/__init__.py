"""The views of the explorer, one module per view."""
