"""The stub side of the Python backend.

Everything in this package depends only on the standard library and numpy, so a stub can run
in another Python environment (``EXECUTION_ENV_PATH``) that does not have tritoncore.
"""
