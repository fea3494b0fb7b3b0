"""Desktop apps (operator console, annotation) and the FastAPI session server."""
