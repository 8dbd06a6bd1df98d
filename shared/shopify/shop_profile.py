"""The shop's name, currency and country, read once at install.

Prices and the briefing are in its currency; Google Trends is read for its country.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.shopify.admin_api import AdminApiClient

SHOP_PROFILE_QUERY = "query ShopProfile { shop { name currencyCode billingAddress { countryCodeV2 } } }"


class ShopProfile(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)

    name: str = Field(min_length=1)
    currency: str = Field(alias="currencyCode", pattern=r"^[A-Z]{3}$")
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")  # billingAddress.countryCodeV2; may be unset


async def fetch_shop_profile(shop_domain: str, access_token: str) -> ShopProfile:
    # Few attempts and a short timeout: this runs while the merchant waits on the install redirect.
    async with AdminApiClient(shop_domain, access_token, timeout_seconds=10.0, max_attempts=2) as client:
        data = await client.execute(SHOP_PROFILE_QUERY, operation_name="ShopProfile")
    shop = data["shop"]
    country = (shop.get("billingAddress") or {}).get("countryCodeV2")
    return ShopProfile.model_validate({**shop, "country": country})
