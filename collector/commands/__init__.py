"""One module per ``collector`` verb; see :mod:`collector.cli`."""
