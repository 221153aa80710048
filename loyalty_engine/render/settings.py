"""What a chain sets for its printed lists: program name, contact, terms, identifiers.

Every setting comes from the environment (``LOYALTY_<NAME>``) like the rest of the config;
the brand (chain name, colours) is the config's (:mod:`loyalty_engine.brand`), so lists and
member pages carry the same one as everything else.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from ..brand import DEFAULT_ACCENT_COLOR, DEFAULT_BRAND_COLOR, DEFAULT_CHAIN_NAME, check_color, monogram
from ..config import Config

DEFAULT_TERMS = (
    "Offers are personal to the member named above and valid only with this list or the "
    "member's card at the store shown, through the expiry date of each offer. Each offer "
    "applies automatically at checkout when the products are bought, up to its limit; no "
    "cash value; cannot be combined with other offers on the same item unless stated. "
    "Manufacturer coupons: consumer pays any sales tax; void if copied, sold or transferred."
)


@dataclass(frozen=True)
class RenderSettings:
    chain_name: str = DEFAULT_CHAIN_NAME
    program_name: str = "Savings Club"
    contact: str = "Questions? Ask at the service desk."
    return_address: str = ""  # one line above the window address ("Chain · PO Box 1 · City ST 00000")
    terms: str = DEFAULT_TERMS
    # GS1 company prefix or GLN of the retailer (7-13 digits): AI (8110) optional field 6.
    retailer_gs1_prefix: str = ""
    # Tell lanes not to double the coupon (AI (8110) field 9); lengthens every coupon by 5 digits.
    coupon_dont_multiply: bool = False
    brand_color: str = DEFAULT_BRAND_COLOR
    accent_color: str = DEFAULT_ACCENT_COLOR
    logo_path: Path | None = None  # PNG/JPEG drawn in the logo area; a monogram otherwise
    web_base_url: str = ""  # e.g. https://lists.example.com, printed as the web view address
    # Print runs go to a duplex printer: each list starts on a new sheet (a blank back page after
    # a list with an odd page count). False for simplex printers, which need no blank pages.
    print_duplex: bool = True

    @classmethod
    def from_config(cls, config: Config, environ: Mapping[str, str] | None = None) -> "RenderSettings":
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"chain_name": config.chain_name, "brand_color": config.brand_color,
                                  "accent_color": config.accent_color}
        for name, key in _ENV.items():
            raw = env.get(key)
            if raw is None:
                continue
            if name in _FLAGS:
                values[name] = _flag(key, raw)
            elif name == "logo_path":
                values[name] = Path(raw) if raw else None
            else:
                values[name] = raw
        return cls(**values).validated()

    def validated(self) -> "RenderSettings":
        prefix = self.retailer_gs1_prefix.strip()
        if prefix and not (prefix.isdigit() and 7 <= len(prefix) <= 13):
            raise ValueError(f"LOYALTY_RETAILER_GS1_PREFIX must be 7-13 digits, got {prefix!r}")
        check_color("LOYALTY_BRAND_COLOR", self.brand_color)
        check_color("LOYALTY_ACCENT_COLOR", self.accent_color)
        if self.logo_path is not None and not Path(self.logo_path).is_file():
            raise ValueError(f"LOYALTY_LIST_LOGO {self.logo_path} does not exist")
        return replace(self, retailer_gs1_prefix=prefix)

    @property
    def monogram(self) -> str:
        return monogram(self.chain_name)

    def return_line(self) -> str:
        return self.return_address or f"{self.chain_name} · {self.program_name}"


_FLAGS = ("coupon_dont_multiply", "print_duplex")


def _flag(key: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{key} must be 1/0 (true/false, yes/no, on/off), got {raw!r}")


_ENV = {
    "program_name": "LOYALTY_PROGRAM_NAME",
    "contact": "LOYALTY_PROGRAM_CONTACT",
    "return_address": "LOYALTY_RETURN_ADDRESS",
    "terms": "LOYALTY_LIST_TERMS",
    "retailer_gs1_prefix": "LOYALTY_RETAILER_GS1_PREFIX",
    "coupon_dont_multiply": "LOYALTY_COUPON_DONT_MULTIPLY",
    "logo_path": "LOYALTY_LIST_LOGO",
    "web_base_url": "LOYALTY_WEB_BASE_URL",
    "print_duplex": "LOYALTY_PRINT_DUPLEX",
}
