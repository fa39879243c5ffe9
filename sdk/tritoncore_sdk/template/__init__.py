"""The files ``tritoncore-sdk new-backend`` writes (``string.Template`` text, ``$name`` etc.)."""
