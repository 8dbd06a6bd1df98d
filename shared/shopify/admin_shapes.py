"""Shapes the GraphQL Admin API answers with, shared by the paginated and the bulk sync."""

from __future__ import annotations

from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class AdminShape(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class Ref(AdminShape):
    id: str


class MoneyV2(AdminShape):
    amount: Decimal
    currency_code: str = Field(alias="currencyCode")


class MoneyBag(AdminShape):
    shop_money: MoneyV2 = Field(alias="shopMoney")


class ProductShape(AdminShape):
    id: str
    title: str
    handle: str | None = None
    product_type: str | None = Field(None, alias="productType")
    vendor: str | None = None
    status: str | None = None
    updated_at: AwareDatetime | None = Field(None, alias="updatedAt")
