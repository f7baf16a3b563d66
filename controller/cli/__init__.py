"""studioctl, the command-line face of the operator."""
