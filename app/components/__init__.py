"""Browser-side pieces: the explorer component, painted text, the embed helper."""
