"""Rendering: a lab as a bash script, or as a picture."""
