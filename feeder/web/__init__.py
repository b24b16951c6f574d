"""Front ends over HTTP: serving the output folder (and, next, the subscriber pages)."""
