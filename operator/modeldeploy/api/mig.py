"""MIG profiles per GPU product, as NVIDIA publishes them.

Source: the NVIDIA Multi-Instance GPU User Guide, "Supported MIG Profiles"
(https://docs.nvidia.com/datacenter/tesla/mig-user-guide/supported-mig-profiles.html),
and NVIDIA's mig-parted default configuration for the products the guide
covers in prose only (H100 94 GB/96 GB, GH200 144 GB, GB200). A profile is
written here as the Kubernetes resource the NVIDIA device plugin advertises
(mixed strategy): `nvidia.com/mig-<profile>`, where the guide's `+` becomes a
`.` (`1g.10gb+me` → `1g.10gb.me`), since resource names cannot hold a `+`.

New GPUs bring new profiles: add a row here (and regenerate the CRD, whose
enum is this table's union).
"""

from __future__ import annotations

import re

# product family → its profiles, in the guide's order
MIG_PROFILES: dict[str, tuple[str, ...]] = {
    "A30 24GB": ("1g.6gb", "1g.6gb.me", "2g.12gb", "2g.12gb.me", "4g.24gb"),
    "A100 40GB": ("1g.5gb", "1g.5gb.me", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"),
    "A100 80GB": ("1g.10gb", "1g.10gb.me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "H100 80GB": ("1g.10gb", "1g.10gb.me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "H100 94GB": ("1g.12gb", "1g.12gb.me", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb"),
    "H100 96GB": ("1g.12gb", "1g.12gb.me", "1g.24gb", "2g.24gb", "3g.48gb", "4g.48gb", "7g.96gb"),
    "H200 141GB": ("1g.18gb", "1g.18gb.me", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"),
    "GH200 144GB": ("1g.18gb", "1g.18gb.me", "1g.36gb", "2g.36gb", "3g.72gb", "4g.72gb", "7g.144gb"),
    "B200 180GB": ("1g.23gb", "1g.23gb.me", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb"),
    "GB200 186GB": ("1g.23gb", "1g.23gb.me", "1g.47gb", "2g.47gb", "3g.93gb", "4g.93gb", "7g.186gb"),
    "RTX PRO 5000 Blackwell 48GB": ("1g.12gb", "1g.12gb.me", "1g.12gb.gfx", "1g.12gb-me", "2g.24gb-me",
                                    "4g.48gb", "4g.48gb.gfx"),
    "RTX PRO 6000 Blackwell 96GB": ("1g.24gb", "1g.24gb.me", "1g.24gb.gfx", "1g.24gb.me.all", "1g.24gb-me",
                                    "2g.48gb", "2g.48gb.gfx", "2g.48gb.me.all", "2g.48gb-me",
                                    "4g.96gb", "4g.96gb.gfx"),
}

KNOWN_MIG_PROFILES: tuple[str, ...] = tuple(sorted(
    {p for profiles in MIG_PROFILES.values() for p in profiles},
    key=lambda p: (int(p.split("g.")[0]), int(re.search(r"\.(\d+)gb", p)[1]), p),  # type: ignore[index]
))

# `nvidia.com/gpu.product` label values (GPU feature discovery) → family. Checked
# in order: the first pattern found in the upper-cased label wins.
_PRODUCT_FAMILIES: tuple[tuple[str, str], ...] = (
    (r"GB200", "GB200 186GB"),
    (r"B200", "B200 180GB"),
    (r"GH200.*(144G|HBM3E)", "GH200 144GB"),
    (r"GH200", "H100 96GB"),
    (r"H200", "H200 141GB"),
    (r"H20\b|H20-", "H100 96GB"),
    (r"H[18]00.*(NVL|94GB)", "H100 94GB"),
    (r"H[18]00.*96GB", "H100 96GB"),
    (r"H[18]00", "H100 80GB"),
    (r"A[18]00.*80GB", "A100 80GB"),
    (r"A[18]00", "A100 40GB"),
    (r"A30\b|A30-", "A30 24GB"),
    (r"RTX-PRO-5000", "RTX PRO 5000 Blackwell 48GB"),
    (r"RTX-PRO-6000", "RTX PRO 6000 Blackwell 96GB"),
)


def product_family(gpu_product: str) -> str | None:
    """The profile table that applies to a `nvidia.com/gpu.product` value, if the product is known."""
    label = gpu_product.upper().split("-MIG-")[0]  # the single strategy appends -MIG-<profile>
    return next((family for pattern, family in _PRODUCT_FAMILIES if re.search(pattern, label)), None)


def mig_profile_problem(profile: str, gpu_product: str | None) -> str | None:
    """Why a profile cannot be requested (for this product, when one is named), or None."""
    if "+" in profile:
        written = profile.replace("+", ".")
        return (f"write {written!r}: the device plugin advertises NVIDIA's {profile!r} as "
                f"nvidia.com/mig-{written} (resource names cannot hold '+')")
    if profile not in KNOWN_MIG_PROFILES:
        return (f"{profile!r} is not a MIG profile of any GPU in NVIDIA's MIG user guide; known profiles: "
                + ", ".join(KNOWN_MIG_PROFILES))
    family = product_family(gpu_product) if gpu_product else None
    if family and profile not in MIG_PROFILES[family]:
        return f"{profile!r} does not exist on {gpu_product} ({family}); its profiles: " + ", ".join(MIG_PROFILES[family])
    return None
