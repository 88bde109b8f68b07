"""Rendering: request parts to the text segments the model actually reads, one small function each."""
