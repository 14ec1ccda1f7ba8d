"""The baseline: a Flask + torch server, model loaded once, one request at a time."""

from __future__ import annotations

import sys

import torch
from flask import Flask, jsonify, request

app = Flask(__name__)
model = torch.jit.load(sys.argv[1]).eval()
torch.set_num_threads(1)


@app.post("/v2/models/<name>/infer")
def predict(name: str):  # noqa: ANN201
    body = request.get_json()
    tensor = body["inputs"][0]
    x = torch.tensor(tensor["data"], dtype=torch.float32).reshape(tensor["shape"])
    with torch.inference_mode():
        y = model(x)
    return jsonify({"outputs": [{"name": "OUTPUT__0", "shape": list(y.shape), "datatype": "FP32",
                                 "data": y.flatten().tolist()}]})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[2]), threaded=False)
