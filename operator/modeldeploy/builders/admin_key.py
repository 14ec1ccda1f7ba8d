"""The Triton container's command: make an admin key nobody outside the container can know.

A POSIX sh wrapper (the NGC tritonserver image is Ubuntu: dash, coreutils)
reads 32 bytes from /dev/urandom into a shell variable, then execs
tritonserver with the pod's arguments plus the admin lock on that key. The
key is in no manifest, no environment variable, no file and no log, and
nothing about the pod (UID, name, spec) derives it: only processes inside the
container, which can see tritonserver's own arguments, could learn it. The
operator needs no admin API, so nobody outside is meant to.

The pod's arguments reach the wrapper as "$@", so the kubelet's $(VAR)
expansion of the API key happens in arguments the shell never parses: a key
holding quotes or `;` stays data. The script itself avoids "$(" so the
kubelet leaves it untouched.
"""

from __future__ import annotations

from .triton_args import admin_lock_args

KEY_VARIABLE = "key"
RANDOM_BYTES = 32

# Backquotes rather than $(...): the kubelet would try to expand $(...) as a variable reference.
_SCRIPT = """\
{var}=`od -An -N{bytes} -tx1 /dev/urandom | tr -d ' \\n'`
if [ ${{#{var}}} -ne {hex_length} ]; then
  echo "cannot read {bytes} random bytes from /dev/urandom for Triton's admin key" >&2
  exit 1
fi
exec tritonserver "$@" {lock}
"""


def admin_key_wrapper() -> str:
    lock = " ".join(f'"{flag}"' for flag in admin_lock_args(f"${KEY_VARIABLE}"))
    return _SCRIPT.format(var=KEY_VARIABLE, bytes=RANDOM_BYTES, hex_length=2 * RANDOM_BYTES, lock=lock)


def triton_command() -> list[str]:
    """The container's command; its args are tritonserver's (sh -c puts them in "$@", $0 names it)."""
    return ["/bin/sh", "-c", admin_key_wrapper(), "tritonserver"]
