"""Costs from the books: Apideck Unify (QuickBooks, Xero), matched to the shop's variants."""
