"""The data plane: what runs in the init containers beside Triton, and on a laptop."""
