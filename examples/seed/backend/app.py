"""The seed backend: one JSON endpoint, and a health endpoint for the healthcheck."""
from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/api/message")
def message():
    return jsonify(message="Hello from the backend!")


@app.get("/healthz")
def healthz():
    return "ok\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
