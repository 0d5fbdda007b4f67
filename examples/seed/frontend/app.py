"""The seed frontend: renders the message it fetches from the backend by service name."""
import os

import requests
from flask import Flask, render_template

# Don't hard-code the backend: the service name is only the default.
BACKEND_URL = os.environ.get("BACKEND_URL", "http://backend:5000")

app = Flask(__name__)


@app.get("/")
def index():
    try:
        resp = requests.get(f"{BACKEND_URL}/api/message", timeout=3)
        resp.raise_for_status()
        return render_template("index.html", message=resp.json()["message"], error=None)
    except (requests.RequestException, ValueError, KeyError) as exc:
        error = f"Could not reach the backend at {BACKEND_URL} ({exc.__class__.__name__})"
        return render_template("index.html", message=None, error=error), 502


@app.get("/healthz")
def healthz():
    return "ok\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
