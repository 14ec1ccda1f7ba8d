"""The kubelet's $(VAR) expansion of a container's command and args (third_party/forked/golang/expansion).

`$(NAME)` becomes the variable's value when NAME is defined, and stays as
written otherwise; `$$` is a literal `$`. One pass: an expanded value is not
expanded again.
"""

from __future__ import annotations


def expand(text: str, env: dict[str, str]) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            if text[i + 1] == "$":
                out.append("$")
                i += 2
                continue
            if text[i + 1] == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    out.append(env[name] if name in env else text[i:end + 1])
                    i = end + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


def container_env(container: dict, secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """Literal values and secretKeyRef values, as the kubelet resolves them at container start."""
    env = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(item["value"], env)
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return env
