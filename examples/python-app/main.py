"""A dependency-free WSGI app: gunicorn (from the base image) serves `main:app`, as App Engine's default entrypoint does."""
import json
import os
import platform


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/healthz":
        body = b"ok\n"
        content_type = "text/plain"
    else:
        body = json.dumps(
            {
                "hello": "from Strata",
                "path": path,
                "python": platform.python_version(),
                "service": os.environ.get("GAE_SERVICE", "default"),
                "version": os.environ.get("GAE_VERSION", "unknown"),
            }
        ).encode() + b"\n"
        content_type = "application/json"
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
