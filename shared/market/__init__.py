"""Market signals: competitor page fetching and price extraction, search trends, social signals."""
