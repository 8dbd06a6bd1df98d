"""Price endings on a grid of whole cents: .99, .95 or whole units, within bounds."""

from __future__ import annotations

import numpy as np

from shared.pricing.policy import Rounding

# Price endings in cents within each whole unit; NONE has no grid.
ENDING_CENTS = {Rounding.NINETY_NINE: 99, Rounding.NINETY_FIVE: 95, Rounding.WHOLE: 0}


def grid_nearest(cents: np.ndarray, ending: int) -> np.ndarray:
    # Ties go up: 21.49 -> 21.99 rather than 20.99 for .99 endings.
    return ending + 100 * ((cents - ending + 50) // 100)


def grid_floor(cents: np.ndarray, ending: int) -> np.ndarray:
    return ending + 100 * ((cents - ending) // 100)


def grid_ceil(cents: np.ndarray, ending: int) -> np.ndarray:
    return ending - 100 * ((ending - cents) // 100)


def round_within(price: np.ndarray, band_lo: np.ndarray, band_hi: np.ndarray, ending: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid price nearest `price` inside [band_lo, band_hi], and whether one exists.

    Rows without a grid price in the band keep `price` (the caller says why)."""
    grid_lo = np.maximum(grid_ceil(band_lo, ending), ending if ending > 0 else 100)
    grid_hi = grid_floor(band_hi, ending)
    fits = (grid_lo <= grid_hi) & (band_lo <= band_hi)
    rounded = np.clip(grid_nearest(price, ending), grid_lo, np.maximum(grid_hi, grid_lo))
    return np.where(fits, rounded, price), fits
