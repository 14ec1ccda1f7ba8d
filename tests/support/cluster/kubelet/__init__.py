"""The kubelet of the loopback harness: pods as real processes on this host (see docs/harness.md)."""

from .images import Filesystem, HostImage, Image, TritonImage, builtin_images
from .kubelet import Kubelet

__all__ = ["Filesystem", "HostImage", "Image", "Kubelet", "TritonImage", "builtin_images"]
