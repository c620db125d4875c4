"""Long-running fuzz targets for hubbub's sans-IO protocols (``python -m fuzz.telnet``)."""
