"""Quantity equality as the API server sees it ("0.5" is stored back as "500m")."""

from __future__ import annotations

from kubernetes.utils.quantity import parse_quantity


def same_quantity(a: str, b: str) -> bool:
    try:
        return parse_quantity(a) == parse_quantity(b)
    except (ValueError, TypeError):
        return False


def quantity_value(text: str) -> float:
    """A quantity as a number ("52300m" → 52.3); ValueError when it is none."""
    return float(parse_quantity(text))
