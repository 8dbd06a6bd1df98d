"""Shopify: the GraphQL Admin API client (`admin_api`), the catalogue sync (`sync`), tokens and webhooks."""
