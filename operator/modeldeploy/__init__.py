"""ModelDeploy: serve ModelDeployments on NVIDIA Triton Inference Server."""

__version__ = "0.1.0"
